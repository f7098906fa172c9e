#!/usr/bin/env bash
# Sourced by setup_env.sh (needs C2D_PY): exports COMFYUI_PATH (the host the demo and the whole suite use: an exported
# COMFYUI_PATH, else the newest ComfyUI found by comfy_locator.find_all) and C2D_SMOKE_COMFYUI (the oldest other
# version found, where the test command also runs its smoke subset; empty when none). When nothing is found it
# fetches the newest tested release (git tag v$VERSION, C2D_COMFYUI_GIT overrides the address) into
# comfy_locator.FETCHED and says so; offline it says in one line what to set, and the host tests then skip loudly.
_c2d_locate() { (cd "$HERE" && "$C2D_PY" -c "
import comfy_locator as L, sys
main, smoke = L.test_hosts()
sys.stdout.write(f'{main.path if main else \"\"}\t{main.version if main else \"\"}\t{smoke.path if smoke else \"\"}\t{smoke.version if smoke else \"\"}')" 2>/dev/null); }
IFS=$'\t' read -r COMFY_FOUND COMFY_FOUND_VERSION C2D_SMOKE_COMFYUI C2D_SMOKE_VERSION < <(_c2d_locate || true) || true
if [ -z "${COMFY_FOUND:-}" ] && [ "${C2D_NO_FETCH:-0}" != "1" ]; then
  read -r C2D_COMFY_VERSION C2D_COMFY_DEST C2D_COMFY_OLDEST < <(cd "$HERE" && "$C2D_PY" -c \
    "import comfy_locator as L; print(L.TESTED_VERSION, L.FETCHED, L.OLDEST_VERSION)")
  C2D_COMFY_GIT="${C2D_COMFYUI_GIT:-https://github.com/comfyanonymous/ComfyUI.git}"
  echo "[setup] no ComfyUI found: fetching the newest tested release v$C2D_COMFY_VERSION from $C2D_COMFY_GIT into $C2D_COMFY_DEST"
  rm -rf "$C2D_COMFY_DEST.part"
  if GIT_TERMINAL_PROMPT=0 timeout 600 git -c advice.detachedHead=false clone -q --depth 1 \
       --branch "v$C2D_COMFY_VERSION" "$C2D_COMFY_GIT" "$C2D_COMFY_DEST.part" >/dev/null 2>&1; then
    rm -rf "$C2D_COMFY_DEST" && mv "$C2D_COMFY_DEST.part" "$C2D_COMFY_DEST"
    IFS=$'\t' read -r COMFY_FOUND COMFY_FOUND_VERSION C2D_SMOKE_COMFYUI C2D_SMOKE_VERSION < <(_c2d_locate || true) || true
    echo "[setup] ComfyUI v$C2D_COMFY_VERSION fetched into $C2D_COMFY_DEST"
  else
    rm -rf "$C2D_COMFY_DEST.part"
    echo "!!! [setup] no ComfyUI found and v$C2D_COMFY_VERSION could not be fetched from $C2D_COMFY_GIT (offline?): set COMFYUI_PATH to a ComfyUI checkout ($C2D_COMFY_OLDEST to $C2D_COMFY_VERSION are tested)"
  fi
fi
if [ -n "${COMFY_FOUND:-}" ]; then
  export COMFYUI_PATH="$COMFY_FOUND" C2D_SMOKE_COMFYUI="${C2D_SMOKE_COMFYUI:-}"
  echo "[setup] ComfyUI ${COMFY_FOUND_VERSION:-(version unknown)} at $COMFY_FOUND: the demo and the whole test suite"
  [ -n "$C2D_SMOKE_COMFYUI" ] && echo "[setup] ComfyUI ${C2D_SMOKE_VERSION:-(version unknown)} at $C2D_SMOKE_COMFYUI: the smoke subset (oldest other version found)"
fi
unset -f _c2d_locate
