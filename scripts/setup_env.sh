#!/usr/bin/env bash
# Creates (or reuses) the Python environment used by the demo, the tests and CI, finds ComfyUI (scripts/find_comfyui.sh)
# and installs into the environment the requirements of every ComfyUI it uses (the smoke host's first, the main
# host's last, so the main host's pins win; torch, torchvision and torchaudio stay as installed here).
# Usage: source scripts/setup_env.sh   → exports C2D_PY (python of the venv), COMFYUI_PATH and C2D_SMOKE_COMFYUI.
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
  # ImageBind's own code, tests only (parity reference): imagebind-unofficial and pytorchvideo pull in video
  # packages (decord, fvcore, av pins) the audio path never uses, so without their deps (tests/unit/imagebind_reference.py).
  "$VENV/bin/pip" install -q --no-deps "imagebind-unofficial==0.1.1" "pytorchvideo==0.1.5"
  # newer front ends the front-end test also opens the workflows in (beside the host's own), each in its folder
  for v in $(grep -v '^#' "$HERE/devtools/frontend_versions.txt"); do
    "$VENV/bin/pip" install -q --no-deps --upgrade --target "$VENV/frontends/$v" "comfyui-frontend-package==$v"
  done
  rm -f "$VENV/.c2d-hosts"
  echo "$WANT" > "$STAMP"
fi
export C2D_PY="$VENV/bin/python"
source "$HERE/scripts/find_comfyui.sh"
# The requirements of the ComfyUI versions found (0.33 adds comfy-aimdo, comfy-kitchen, blake3, ...).
# The smoke host's front-end packages are left out: only the main host's front end is served by the tests.
_c2d_host_reqs() {
  grep -hvE '^[[:space:]]*(#|$)|^(torch|torchvision|torchaudio)[[:space:]]*(#.*)?$' "$1/requirements.txt" |
    if [ "$1" = "${C2D_SMOKE_COMFYUI:-}" ]; then grep -vE '^comfyui-(frontend-package|workflow-templates|embedded-docs)'; else cat; fi
}
C2D_HOST_REQS=""
for host in "${C2D_SMOKE_COMFYUI:-}" "${COMFYUI_PATH:-}"; do
  [ -n "$host" ] && [ -f "$host/requirements.txt" ] && C2D_HOST_REQS="$C2D_HOST_REQS $host"
done
HOSTS_WANT="$(for host in $C2D_HOST_REQS; do echo "$host"; _c2d_host_reqs "$host"; done | sha1sum | cut -d' ' -f1)"
if [ -n "$C2D_HOST_REQS" ] && [ "$(cat "$VENV/.c2d-hosts" 2>/dev/null)" != "$HOSTS_WANT" ]; then
  C2D_HOSTS_OK=1
  for host in $C2D_HOST_REQS; do
    echo "[setup] installing the requirements of the ComfyUI at $host"
    if ! "$VENV/bin/pip" install -q -r <(_c2d_host_reqs "$host") >"$VENV/.c2d-host-pip.log" 2>&1; then
      C2D_HOSTS_OK=0
      echo "!!! [setup] could not install the requirements of the ComfyUI at $host (see $VENV/.c2d-host-pip.log): run $VENV/bin/pip install -r $host/requirements.txt"
    fi
  done
  [ "$C2D_HOSTS_OK" = 1 ] && echo "$HOSTS_WANT" > "$VENV/.c2d-hosts"
fi
unset -f _c2d_host_reqs
