#!/usr/bin/env bash
# Starts the real single-node cluster (`make node-up`); see hack/node.sh.
exec "$(dirname "${BASH_SOURCE[0]}")/node.sh" up "$@"
