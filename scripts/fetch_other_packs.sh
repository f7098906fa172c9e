#!/usr/bin/env bash
# Unpack the other node packs the interop tests load (tests/host/test_interop_*.py) at their tested commits into
# $C2D_OTHER_PACKS (default /opt/comfy-packs), one folder per pack, as in ComfyUI/custom_nodes/. Their code is
# never committed here. Needs GitHub (git clone); without it the interop tests skip and say so per pack.
# The commits are the ones in devtools/other_packs.py (PACKS).
set -euo pipefail
DEST="${C2D_OTHER_PACKS:-/opt/comfy-packs}"
mkdir -p "$DEST"
while read -r folder repo sha; do
  [ -z "$folder" ] && continue
  if [ -f "$DEST/$folder/__init__.py" ]; then echo "[packs] $folder: present"; continue; fi
  tmp="$(mktemp -d)"
  if git clone -q --filter=blob:none "https://github.com/$repo" "$tmp/src" 2>/dev/null &&
     git -C "$tmp/src" -c advice.detachedHead=false checkout -q "$sha"; then
    mkdir -p "$DEST/$folder"
    git -C "$tmp/src" archive "$sha" | tar -x -C "$DEST/$folder"
    echo "$sha" > "$DEST/$folder/.c2d_commit"
    echo "[packs] $folder: unpacked $repo@${sha:0:12}"
  else
    echo "!!! [packs] $folder: could not fetch $repo (no network?): its interop tests will be SKIPPED"
  fi
  rm -rf "$tmp"
done < <(cd "$(dirname "$0")/.." && python3 -c "
from devtools.other_packs import PACKS
for folder, repo, sha in PACKS.values(): print(folder, repo, sha)")
