#!/usr/bin/env bash
# The README's main-job command: sets up the environment (first run only) and runs the example
# workflow headless in ComfyUI (COMFYUI_PATH, the custom_nodes/ parent, /opt/ComfyUI or ~/ComfyUI),
# on random-weight stand-ins for any model that is not installed. Prints the image path.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
exec "$C2D_PY" -m devtools.demo "$@"
