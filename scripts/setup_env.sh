#!/usr/bin/env bash
# Creates (or reuses) the Python environment used by the demo, the tests and CI.
# Usage: source scripts/setup_env.sh   → exports C2D_PY (python of the venv) and COMFYUI_PATH if a host is found.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${C2D_VENV:-$HOME/.cache/clap2diffusion/venv}"
STAMP="$VENV/.c2d-requirements"
WANT="$(cat "$HERE/requirements.txt" "$HERE/requirements-dev.txt" "$HERE/training/requirements.txt" \
  "$HERE/devtools/frontend_versions.txt" | sha1sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "[setup] creating Python environment in $VENV (first run takes a few minutes)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  # torch + torchvision first (ComfyUI needs both); torchaudio without deps so it never swaps torch.
  "$VENV/bin/pip" install -q "torch==2.14.1" "torchvision==0.29.1"
  "$VENV/bin/pip" install -q --no-deps "torchaudio==2.11.0"
  "$VENV/bin/pip" install -q -r "$HERE/requirements.txt" -r "$HERE/requirements-dev.txt"
  # Microsoft CLAP, tests only (parity reference): it pins numpy<2 / transformers<5, so without its deps.
  "$VENV/bin/pip" install -q --no-deps "msclap==1.3.4"
  # newer front ends the front-end test also opens the workflows in (beside the pinned package), each in its folder
  for v in $(grep -v '^#' "$HERE/devtools/frontend_versions.txt"); do
    "$VENV/bin/pip" install -q --no-deps --upgrade --target "$VENV/frontends/$v" "comfyui-frontend-package==$v"
  done
  echo "$WANT" > "$STAMP"
fi
export C2D_PY="$VENV/bin/python"
source "$HERE/scripts/find_comfyui.sh"
