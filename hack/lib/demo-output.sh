# shellcheck shell=bash
# What hack/demo.sh and hack/node-demo.sh share: their arguments and how they show each step.
# Source it after setting DEMO_NAME (the prefix of error messages); it reads "$@" for
# --pause / --non-interactive / --help and sets PAUSE. A script that defines record NAME VALUE
# before calling expect_http gets every status recorded.

PAUSE=false
parse_demo_args() {
	local arg
	for arg in "$@"; do
		case "$arg" in
		--pause) PAUSE=true ;;
		--non-interactive) PAUSE=false ;;
		-h | --help)
			sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
			exit 0
			;;
		*)
			echo "${DEMO_NAME}: unknown argument: $arg" >&2
			exit 2
			;;
		esac
	done
	[[ -t 0 ]] || PAUSE=false
}

if [[ -t 1 ]]; then
	BOLD=$'\e[1m' DIM=$'\e[2m' GREEN=$'\e[32m' RED=$'\e[31m' CYAN=$'\e[36m' RESET=$'\e[0m'
else
	BOLD='' DIM='' GREEN='' RED='' CYAN='' RESET=''
fi
FAILURES=()
step() {
	if [[ "$PAUSE" == true ]]; then
		read -r -p "${DIM}(Enter for the next step)${RESET}" _ || true
	fi
	printf '\n%s== %s ==%s\n' "$BOLD" "$*" "$RESET"
}
say() { printf '%s# %s%s\n' "$DIM" "$*" "$RESET"; }
ok() { printf '%s   ✔ %s%s\n' "$GREEN" "$*" "$RESET"; }
fail() {
	printf '%s   ✘ %s%s\n' "$RED" "$*" "$RESET"
	FAILURES+=("$*")
}
# run 'COMMAND': print it as typed, then run it (through eval, so that $VARS in the shown
# command stay readable and are expanded only when it runs). Output goes to the terminal.
run() {
	printf '%s$ %s%s\n' "$CYAN" "$1" "$RESET"
	eval "$1"
}
# expect_http STATUS 'what' 'CURL ARGS': print `curl ARGS`, run it, print status and body,
# and record a failure when the status is not STATUS. The body is kept in BODY.
BODY=''
expect_http() {
	local want="$1" what="$2" args="$3" out status
	printf '%s$ curl %s%s\n' "$CYAN" "$args" "$RESET"
	out="$(eval "curl -sS --max-time 10 -w '\n%{http_code}' $args" 2>&1)"
	status="${out##*$'\n'}"
	BODY="${out%$'\n'*}"
	[[ "$out" == *$'\n'* ]] || BODY=''
	printf 'HTTP %s %s\n' "$status" "$(printf '%s' "$BODY" | cut -c1-160)"
	if declare -F record >/dev/null; then record "http ${what}" "$status"; fi
	if [[ "$status" == "$want" ]]; then
		ok "$what: $status"
	else
		fail "$what: want HTTP $want, got $status"
	fi
}
json_field() { # json_field NAME: the string value of "NAME" in the JSON on stdin
	sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -n1
}
jwt_kid() { # jwt_kid TOKEN: the kid of a JWT's header
	local h="${1%%.*}"
	h="$(printf '%s' "$h" | tr '_-' '/+')"
	while (($(printf '%s' "$h" | wc -c) % 4)); do h+='='; done
	printf '%s' "$h" | base64 -d 2>/dev/null | json_field kid
}
