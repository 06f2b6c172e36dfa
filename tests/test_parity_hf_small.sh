#!/usr/bin/env bash
# labels: release_only
# gptoss parity --against hf on the small preset in the Hugging Face layout: the targets.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/parity_lib.sh"
need_python
parity_meets_targets hf small hf
