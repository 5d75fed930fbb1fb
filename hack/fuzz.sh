#!/usr/bin/env bash
# Runs every fuzz target of the module for DURATION each (default 10s): `make test-reliability`
# runs it with $(RELIABILITY_FUZZTIME); plain `go test` (so `make test`) only replays each
# target's committed corpus. `go test -fuzz` takes one target per invocation, so each target gets its
# own run. A crasher is written to the package's testdata/fuzz/<Target>/, where plain
# `go test` replays it from then on.
#
# With SAVE_CORPUS=1 (`make fuzz-corpus`), the inputs the fuzzer found interesting (kept in
# the Go build cache) are copied to testdata/fuzz/<Target>/ too, to be committed: every later
# `go test` then replays them, and every later fuzzing run starts from them.
#
#   hack/fuzz.sh [DURATION]                   e.g. hack/fuzz.sh 1m
#   SAVE_CORPUS=1 hack/fuzz.sh [DURATION]
set -euo pipefail

fuzztime="${1:-10s}"
cd "$(dirname "$0")/.."

# Only packages whose tests declare a Fuzz function are asked to list their targets: listing
# runs a package's TestMain, and some of those start a control plane.
candidates=()
while read -r pkg dir; do
	if grep -qs '^func Fuzz' "$dir"/*_test.go; then
		candidates+=("$pkg")
	fi
done < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' ./... | sed '/^$/d')
if [ ${#candidates[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

# `go test -list` prints a package's matching names, then its "ok <package>" line.
targets=()
names=()
listing=$(go test -list '^Fuzz' "${candidates[@]}")
while IFS= read -r line; do
	case "$line" in
	Fuzz*) names+=("$line") ;;
	ok*)
		pkg=$(awk '{print $2}' <<<"$line")
		for n in ${names[@]+"${names[@]}"}; do
			targets+=("$pkg $n")
		done
		names=()
		;;
	*) names=() ;;
	esac
done <<<"$listing"

# Targets whose every run costs about a millisecond (a Pod deep-copied, injected and compared)
# get a budget of runs instead of time: with a time budget, Go's fuzzer can reach the end while
# it minimizes a new input, and then fails with "context deadline exceeded".
declare -A budget=([FuzzInjectSidecar]=3000x [FuzzInjectionPatch]=3000x)

cache="$(go env GOCACHE)/fuzz"
saved=0
failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	ft="${budget[$name]:-$fuzztime}"
	echo "=== fuzzing $name in $pkg for $ft"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$ft" "$pkg"; then
		failed+=("$pkg $name")
	fi
	if [ "${SAVE_CORPUS:-}" = 1 ] && [ -d "$cache/$pkg/$name" ]; then
		dest="$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$name"
		mkdir -p "$dest"
		# Entries are named by their content's hash: what is already there is skipped.
		before=$(find "$dest" -type f | wc -l)
		cp -n "$cache/$pkg/$name"/* "$dest"/ 2>/dev/null || true
		after=$(find "$dest" -type f | wc -l)
		saved=$((saved + after - before))
		echo "    corpus: $after inputs in ${dest#"$PWD"/} ($((after - before)) new)"
	fi
done
[ "${SAVE_CORPUS:-}" = 1 ] && echo "fuzz.sh: $saved new corpus inputs under testdata/fuzz; commit them"

echo "fuzz.sh: ${#targets[@]} targets, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
	printf '  FAIL %s\n' "${failed[@]}" >&2
	exit 1
fi
