"""Generates docs/nodes.md (the node reference) from the nodes' V3 schemas, so it cannot drift.

Usage: python -m devtools.node_docs [--check]   (needs a ComfyUI host; --check exits 1 if the file is stale)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "nodes.md"


def _io_type(item) -> str:
    return str(getattr(item, "io_type", type(item).__name__))


def render(nodes) -> str:
    lines = ["# Node reference", "", "Generated from the node schemas by `python -m devtools.node_docs`; do not edit.", ""]
    for cls in nodes:
        s = cls.define_schema()
        lines += [f"## {s.display_name} (`{s.node_id}`)", "", s.description or "", "",
                  "| input | type | default | what it does |", "|---|---|---|---|"]
        for i in s.inputs:
            opt = " (optional)" if getattr(i, "optional", False) else ""
            default = getattr(i, "default", None)
            lines.append(f"| `{i.id}`{opt} | {_io_type(i)} | {'' if default is None else f'`{default}`'} | "
                         f"{(getattr(i, 'tooltip', None) or '').replace('|', '/')} |")
        lines += ["", "| output | type | what it is |", "|---|---|---|"]
        for o in s.outputs:
            name = getattr(o, "display_name", None) or getattr(o, "id", None) or _io_type(o)
            lines.append(f"| `{name}` | {_io_type(o)} | {(getattr(o, 'tooltip', None) or '').replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    from devtools.comfy_host import get_host
    work = Path(tempfile.mkdtemp(prefix="c2d_docs_"))
    host = get_host(work / "models", work, load_pack=True)
    text = render(host.pack_module.NODES)
    if args.check:
        return 0 if DOC.is_file() and DOC.read_text() == text else 1
    DOC.write_text(text)
    print("wrote", DOC)
    return 0


if __name__ == "__main__":
    sys.exit(main())
