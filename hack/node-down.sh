#!/usr/bin/env bash
# Stops the real single-node cluster and removes everything it made (`make node-down`); see hack/node.sh.
exec "$(dirname "${BASH_SOURCE[0]}")/node.sh" down "$@"
