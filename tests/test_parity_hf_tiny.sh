#!/usr/bin/env bash
# gptoss parity --against hf (transformers' GptOssForCausalLM) on the tiny preset in the
# Hugging Face layout: the same targets (see tests/parity_lib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/parity_lib.sh"
need_python
parity_meets_targets hf tiny hf
