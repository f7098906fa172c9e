#!/usr/bin/env bash
# Sourced by setup_env.sh (needs C2D_PY): exports COMFYUI_PATH to the ComfyUI the demo and the tests use.
# When none is found (comfy_locator.find: COMFYUI_PATH, custom_nodes parent, /opt/ComfyUI, ~/ComfyUI), fetches the
# tested release (git tag v$VERSION, C2D_COMFYUI_GIT overrides the address) into comfy_locator.FETCHED and says so;
# offline it says in one line what to set, and the host tests then skip loudly.
_c2d_locate() { (cd "$HERE" && "$C2D_PY" -c "import comfy_locator as L, sys; r = L.find(); sys.stdout.write(str(r or ''))" 2>/dev/null); }
COMFY_FOUND="$(_c2d_locate || true)"
if [ -z "$COMFY_FOUND" ] && [ "${C2D_NO_FETCH:-0}" != "1" ]; then
  read -r C2D_COMFY_VERSION C2D_COMFY_DEST < <(cd "$HERE" && "$C2D_PY" -c \
    "import comfy_locator as L; print(L.TESTED_VERSION, L.FETCHED)")
  C2D_COMFY_GIT="${C2D_COMFYUI_GIT:-https://github.com/comfyanonymous/ComfyUI.git}"
  echo "[setup] no ComfyUI found: fetching the tested release v$C2D_COMFY_VERSION from $C2D_COMFY_GIT into $C2D_COMFY_DEST"
  rm -rf "$C2D_COMFY_DEST.part"
  if GIT_TERMINAL_PROMPT=0 timeout 600 git -c advice.detachedHead=false clone -q --depth 1 \
       --branch "v$C2D_COMFY_VERSION" "$C2D_COMFY_GIT" "$C2D_COMFY_DEST.part" >/dev/null 2>&1; then
    rm -rf "$C2D_COMFY_DEST" && mv "$C2D_COMFY_DEST.part" "$C2D_COMFY_DEST"
    COMFY_FOUND="$(_c2d_locate || true)"
    echo "[setup] ComfyUI v$C2D_COMFY_VERSION fetched into $C2D_COMFY_DEST"
  else
    rm -rf "$C2D_COMFY_DEST.part"
    echo "!!! [setup] no ComfyUI found and v$C2D_COMFY_VERSION could not be fetched from $C2D_COMFY_GIT (offline?): set COMFYUI_PATH to a ComfyUI checkout (>= $C2D_COMFY_VERSION)"
  fi
fi
[ -n "$COMFY_FOUND" ] && export COMFYUI_PATH="$COMFY_FOUND"
unset -f _c2d_locate
