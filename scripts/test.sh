#!/usr/bin/env bash
# The README's test command: sets up the environment (first run only) and runs every test.
# Host tests need ComfyUI: COMFYUI_PATH, the custom_nodes/ parent, /opt/ComfyUI or ~/ComfyUI.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
HOST="$("$C2D_PY" -c 'from devtools.comfy_host import find_comfyui; print(find_comfyui() or "")')"
if [ -n "$HOST" ]; then
  echo "[test] ComfyUI host found: $HOST (host tests will run)"
else
  echo "!!! [test] NO ComfyUI HOST FOUND: host tests will be SKIPPED and prove nothing."
  echo "!!!        Set COMFYUI_PATH to a ComfyUI checkout (>= 0.3.64) to run them."
fi
BROWSER="$("$C2D_PY" -c 'from devtools.frontend import find_chromium; print(find_chromium() or "")')"
if [ -n "$BROWSER" ]; then
  echo "[test] Chromium found: $BROWSER (front-end tests will run)"
else
  echo "!!! [test] NO CHROMIUM FOUND: front-end tests will be SKIPPED and prove nothing."
  echo "!!!        Install Debian's chromium (.ci/run does) or set C2D_CHROMIUM."
fi
set +e
"$C2D_PY" -m pytest -c tests/pytest.ini tests "$@"
rc=$?
set -e
[ "$rc" -eq 5 ] && { echo "[test] pytest collected no tests"; exit 1; }
exit "$rc"
