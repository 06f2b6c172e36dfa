#!/usr/bin/env bash
# labels: release_only
# gptoss parity --against torch with --incremental: the engine fed token by token through
# its KV cache (the decode path), 32 positions crossing the sliding window of 8, meets the
# same targets as the one-shot prefill (see tests/parity_lib.sh) on tiny and small.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/parity_lib.sh"
need_python
parity_meets_targets torch tiny original "" --incremental
parity_meets_targets torch small original "" --incremental
