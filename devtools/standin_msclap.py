"""Random-weight Microsoft CLAP files in the released layout (no download).

`make_random_msclap_file` writes what `CLAP_weights_2022.pth` holds for the audio side: `{"model": sd}` with
msclap's `audio_encoder.*` tensors (Cnn14 incl. its STFT / mel tensors and BatchNorm statistics, the
projection), plus `logit_scale`; with `text=True` also the BERT text tower (`caption_encoder.*`, ≈ 440 MB
more) and a tiny WordPiece `bert-base-uncased/vocab.txt` next to the file (sound prompts). Built from the
pack's own towers (the unit tests build theirs from msclap's classes).
"""
from __future__ import annotations

from pathlib import Path

import torch


def random_msclap_state(seed: int = 0, version: str = "2022") -> dict:
    """`{"audio_encoder.*": tensor, "logit_scale": tensor}` with random weights and non-trivial BatchNorm stats."""
    from c2d_core.clap.msclap_audio import MsClapAudioTower
    from c2d_core.clap.msclap_file import VARIANTS
    if version != "2022":
        raise ValueError("stand-ins are written for Microsoft CLAP 2022 only (the 2023 tests build msclap's HTSAT)")
    g = torch.Generator().manual_seed(seed)
    tower = MsClapAudioTower(VARIANTS[version])
    with torch.no_grad():
        for name, p in tower.named_parameters():
            if "extractor" in name:
                continue  # fixed front end, as msclap computes it
            if name.endswith("weight") and p.dim() > 1:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
        for name, b in tower.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
    sd = {f"audio_encoder.{k}": v for k, v in tower.state_dict().items()}
    sd["logit_scale"] = torch.tensor(2.6593)
    return sd


TOY_WORDS = ["rain", "thunder", "##storm", "heavy", "with", "fire", "crack", "##ling", "dog", "bark", "##ing",
             "a", "the", "birds", "sing", "in", "forest", "wind", "waves", "sea"]


def random_msclap_text_state(seed: int = 0, version: str = "2022") -> dict:
    """`{"caption_encoder.*": tensor}`: a random BERT (bert-base-uncased config) + projection."""
    from c2d_core.clap.msclap_file import VARIANTS
    from c2d_core.clap.msclap_text import MsClapTextTower
    torch.manual_seed(seed)
    tower = MsClapTextTower(VARIANTS[version])
    return {f"caption_encoder.{k}": v for k, v in tower.state_dict().items()}


def make_random_msclap_file(path, seed: int = 0, version: str = "2022", text: bool = False) -> Path:
    """Writes a random-weight Microsoft CLAP `.pth` at `path` (≈ 340 MB for 2022, 780 MB with text) and returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = random_msclap_state(seed, version)
    if text:
        from c2d_core.clap.msclap_text import TOKENIZER_FOLDER
        sd.update(random_msclap_text_state(seed + 1, version))
        tok = path.parent / TOKENIZER_FOLDER[version]
        tok.mkdir(exist_ok=True)
        (tok / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + TOY_WORDS) + "\n")
    torch.save({"model": sd}, path)
    return path


def ensure_msclap_standin(cache_dir=None, seed: int = 0) -> Path:
    """A random Microsoft CLAP 2022 `.pth` (audio side, ≈ 340 MB) in the stand-in cache, written once and named by a
    hash of this recipe (devtools.standin_cache); link it under the released name `CLAP_weights_2022.pth`."""
    import sys

    from devtools.standin_cache import cached, recipe_key
    return cached(f"c2d-standin-msclap-2022-seed{seed}", recipe_key({"seed": seed}, sys.modules[__name__]),
                  lambda p: make_random_msclap_file(p, seed=seed), suffix=".pth", folder=cache_dir)
