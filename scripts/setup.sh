#!/usr/bin/env bash
# Fresh machine -> working project: Debian packages, the pinned reference Python
# environment, the release build, then the main job (scripts/baseline.sh on `small`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install_deps.sh
bash scripts/setup_python.sh
bash scripts/build.sh
bash scripts/baseline.sh "${1:-small}"
