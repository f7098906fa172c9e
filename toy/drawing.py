"""Drawing helpers of the toy's pictures: labelled grids of latent tiles (grid, demo, editing pictures)."""
from __future__ import annotations

from dataclasses import dataclass

import torch


def font(size: int = 12):
    """Pillow's default font, scalable where Pillow >= 10.1 has FreeType."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):
        return ImageFont.load_default()


def to_image(rgb: torch.Tensor):
    """(H, W, 3) in [0, 1] (ComfyUI IMAGE layout, one image) → PIL RGB image."""
    from PIL import Image

    return Image.fromarray((rgb.float().clamp(0, 1).cpu().numpy() * 255).round().astype("uint8"))


@dataclass(frozen=True)
class GridLayout:
    """Geometry of a labelled picture grid: `cell`-pixel tiles, `pad` apart, after a `left` label margin and a
    `top` header band."""

    cell: int = 64
    pad: int = 6
    left: int = 92
    top: int = 34
    footer_line: int = 18

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of tile (row, col), x1/y1 exclusive."""
        x, y = self.left + col * (self.cell + self.pad), self.top + row * (self.cell + self.pad)
        return x, y, x + self.cell, y + self.cell


def draw_grid(tiles: list[list[torch.Tensor]], row_labels: list[str], headers: dict[int, str], footer: list[str],
              layout: GridLayout = GridLayout(), outlined: set = frozenset()):
    """A white canvas with tiles[r][c] ((cell, cell, 3) RGB in [0, 1]) at layout.box(r, c), a label left of each
    row, header texts above the columns they are keyed by, footer lines below, and a black outline around the
    (r, c) tiles in `outlined`. Returns the PIL image."""
    from PIL import Image, ImageDraw

    f = font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    cols = max(len(r) for r in tiles)
    W = max(layout.left + cols * (layout.cell + layout.pad) + layout.pad,
            *(int(probe.textlength(t, font=f)) + 12 for t in footer),
            *(layout.box(0, c)[0] + int(probe.textlength(t, font=f)) + 6 for c, t in headers.items()))
    H = layout.top + len(tiles) * (layout.cell + layout.pad) + layout.footer_line * len(footer) + 6
    canvas = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(canvas)
    for c, text in headers.items():
        draw.text((layout.box(0, c)[0], 6), text, fill="black", font=f)
    for r, row in enumerate(tiles):
        y = layout.box(r, 0)[1]
        draw.text((6, y + layout.cell // 2 - 6), row_labels[r], fill="black", font=f)
        for c, rgb in enumerate(row):
            x0, y0, x1, y1 = layout.box(r, c)
            canvas.paste(to_image(rgb), (x0, y0))
            if (r, c) in outlined:
                draw.rectangle([x0 - 2, y0 - 2, x1 + 1, y1 + 1], outline="black", width=2)
    for n, line in enumerate(footer):
        draw.text((6, H - layout.footer_line * (len(footer) - n) - 2), line, fill="black", font=f)
    return canvas
