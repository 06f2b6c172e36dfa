#!/usr/bin/env bash
# Runs one Python test with the reference virtual environment; skips (77) without one.
if [ ! -x "$GPTOSS_PYTHON" ]; then
  echo "skipped: no reference Python at '$GPTOSS_PYTHON' (run scripts/setup_python.sh)"
  exit 77
fi
exec "$GPTOSS_PYTHON" "$@"
