#!/usr/bin/env bash
# labels: release_only
# gptoss parity --against torch on the small preset: the targets (see tests/parity_lib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/parity_lib.sh"
need_python
parity_meets_targets torch small original
