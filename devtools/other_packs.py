"""Where the other node packs' sources are for the interop tests (never committed, unpacked beside the host).

    $C2D_OTHER_PACKS (default /opt/comfy-packs)/<folder>/   one folder per pack, as in ComfyUI/custom_nodes/
    <folder>/.c2d_commit                                     the commit it was unpacked from (optional)

`scripts/fetch_other_packs.sh` documents how the tested commits were unpacked.
"""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DIR = Path("/opt/comfy-packs")
# key → (folder name, GitHub repository, commit tested)
PACKS = {
    "vhs": ("ComfyUI-VideoHelperSuite", "Kosinkadink/ComfyUI-VideoHelperSuite",
            "4ee72c065db22c9d96c2427954dc69e7b908444b"),
    "animatediff": ("ComfyUI-AnimateDiff-Evolved", "Kosinkadink/ComfyUI-AnimateDiff-Evolved",
                    "d8d163cd90b1111f6227495e3467633676fbb346"),
    "ipadapter": ("ComfyUI_IPAdapter_plus", "cubiq/ComfyUI_IPAdapter_plus",
                  "9d076a3df0d2763cef5510ec5ab807f6632c39f5"),
}
SKIP_MARK = "OTHER PACK NOT FOUND"  # tests/conftest.py counts skips with this text


def packs_dir() -> Path:
    return Path(os.environ.get("C2D_OTHER_PACKS") or DEFAULT_DIR)


def pack_path(key: str) -> Path | None:
    """The pack's folder, or None when it is absent (no __init__.py)."""
    path = packs_dir() / PACKS[key][0]
    return path if (path / "__init__.py").is_file() else None


def commit(key: str) -> str:
    """The commit the folder says it holds, else the tested one."""
    path = pack_path(key)
    marker = path / ".c2d_commit" if path else None
    return marker.read_text().strip() if marker and marker.is_file() else PACKS[key][2]


def skip_reason(key: str) -> str:
    folder, repo, sha = PACKS[key]
    return (f"{SKIP_MARK}: {repo} is not at {packs_dir() / folder} (set C2D_OTHER_PACKS to a folder holding "
            f"{folder}/, tested at {sha[:12]}; see scripts/fetch_other_packs.sh); its interop tests did NOT run")
