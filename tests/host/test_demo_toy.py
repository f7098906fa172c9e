"""The main-job command's toy path, from a fresh clone: the grid it writes shows the bundle's classes.

The class of every picture is read back from the PNG here (the square's colour against the task's palette),
not from anything the demo reports."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.slow  # a fresh clone draws the grid: 88 s on a busy 2-core CPU, < 15 s alone

REPO = Path(__file__).resolve().parents[2]


def picture_class(tile: torch.Tensor) -> int:
    """tile: (H, W, 3) in [0, 1] → the class whose palette colour the centre of the tile (the square) is closest
    to in direction from the grey background."""
    from toy import task as S

    h, w = tile.shape[:2]
    centre = tile[h * 3 // 8:h * 5 // 8, w * 3 // 8:w * 5 // 8].reshape(-1, 3).mean(0) - 0.5
    palette = torch.tensor(S.RGB) - 0.5
    return int(torch.nn.functional.cosine_similarity(centre[None], palette, dim=1).argmax())


@pytest.fixture(scope="module")
def clone(stock_host, tmp_path_factory) -> Path:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the fresh-clone test needs git and the repository's history")
    dest = tmp_path_factory.mktemp("fresh") / "clap2diffusion"
    subprocess.run(["git", "clone", "-q", str(REPO), str(dest)], check=True, capture_output=True, timeout=120)
    return dest


def test_toy_grid_from_a_fresh_clone_shows_the_bundle_classes(stock_host, clone, tmp_path):
    """The toy path of `bash scripts/demo.sh`, with a user clip: a 1200 Hz tone at 44.1 kHz, stereo (the toy's
    tones are 48 kHz mono), which must land in the 1200 Hz class."""
    from devtools.demo_audio import write_wav
    from devtools.toy_demo import COLUMNS, layout

    t = np.arange(int(1.5 * 44_100)) / 44_100
    wave = (0.5 * np.sin(2 * np.pi * 1200 * t)).astype(np.float32)
    clip = write_wav(tmp_path / "my tone.wav", np.stack([wave, 0.8 * wave]), 44_100)
    env = {**os.environ, "COMFYUI_PATH": str(stock_host.root)}
    proc = subprocess.run(["bash", "scripts/demo.sh", "--toy-only", "--audio", str(clip), "--out", str(tmp_path)],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert str(clone) in out, out[-2000:]    # the clone's pack was loaded, not this checkout
    lines = [l for l in proc.stdout.splitlines() if l.startswith("[demo] toy grid written: ")]
    assert len(lines) == 1, proc.stdout
    png = Path(lines[0].split(": ", 1)[1])
    assert png.parent == tmp_path / "output"
    assert "the sound decides the image" in proc.stdout

    freqs = json.loads((clone / "toy" / "bundle" / "toy.json").read_text())["freqs_hz"]
    grid = torch.from_numpy(np.array(Image.open(png).convert("RGB"))).float() / 255
    box = layout().box
    classes = [[picture_class(grid[box(r, c)[1]:box(r, c)[3], box(r, c)[0]:box(r, c)[2]]) for c in range(COLUMNS)]
               for r in range(len(freqs) + 2)]   # one row per pitch class, strength 0 (not checked), the user's clip
    tones = classes[:len(freqs)]
    correct = sum(c == k for k, row in enumerate(tones) for c in row)
    assert correct >= 0.75 * COLUMNS * len(freqs), classes           # chance is 25 %
    assert all(max(set(row), key=row.count) == k for k, row in enumerate(tones)), classes
    # the same starting noise in each column: the sound alone changes the colour, one class per pitch
    distinct = [len({tones[k][c] for k in range(len(freqs))}) for c in range(COLUMNS)]
    assert sum(d == len(freqs) for d in distinct) >= COLUMNS - 1, classes
    user, k = classes[-1], freqs.index(1200.0)
    assert user.count(k) > COLUMNS // 2, classes
    assert "your clip my tone.wav lands in the 1200 Hz class" in proc.stdout, proc.stdout
