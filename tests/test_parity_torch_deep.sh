#!/usr/bin/env bash
# labels: release_only
# gptoss parity --against torch on the deep preset (24 blocks x 32 experts): the targets
# at full depth (see tests/parity_lib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/parity_lib.sh"
need_python
parity_meets_targets torch deep original
