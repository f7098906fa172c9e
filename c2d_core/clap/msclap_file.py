"""Microsoft CLAP (`msclap`) checkpoint files: the declared variants and a strict reader.

Microsoft releases `CLAP_weights_2022.pth` and `CLAP_weights_2023.pth` as `torch.save({"model": sd})`, `sd`
the state dict of msclap's `CLAP` module (`msclap/models/clap.py`): `audio_encoder.base.*` (the audio tower:
Cnn14 in 2022, HTSAT in 2023), `audio_encoder.projection.*` (the projection MLP to `d_proj`),
`caption_encoder.*` (the text tower) and `logit_scale`. The file is read with `torch.load(weights_only=True)`:
one that needs unsafe unpickling is refused and none of its code runs.

The audio keys are checked strictly against the layout declared by the variant's config (msclap_layout.py builds
it on the meta device from `msclap_audio`, so nothing is guessed from key names): a missing, unexpected or wrongly shaped
tensor is a `ClapModelError` naming the tensor and both shapes. The fixed front-end tensors (STFT kernels,
mel filter bank) and BatchNorm's `num_batches_tracked` may be absent: msclap loads with `strict=False` and
recomputes the first from its config.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ClapModelError
from ..torch_files import read_checkpoint

AUDIO_PREFIX = "audio_encoder."


@dataclass(frozen=True)
class MsClapVariant:
    """One released Microsoft CLAP model (msclap's `configs/config_<version>.yml`)."""

    version: str                  # "2022" | "2023"
    audio_tower: str              # "cnn14" | "htsat"
    file_name: str                # the name Microsoft releases it under
    sample_rate: int = 44_100
    window_size: int = 1024       # STFT window = n_fft
    hop_size: int = 320
    mel_bins: int = 64
    fmin: int = 50
    fmax: int = 14_000
    out_emb: int = 2048           # audio tower embedding (input of the projection)
    d_proj: int = 1024            # joint embedding
    classes_num: int = 527        # AudioSet head, in the file but unused for embeddings
    clip_seconds: float = 10.0    # window length: SonicDiffusion's `duration` for 2022; msclap's 7 s for 2023
    mel_sample_rate: int | None = None  # rate the mel filter bank is built for (None: sample_rate)
    text_model: str = "bert-base-uncased"
    transformer_embed_dim: int = 768
    text_len: int = 100

    @property
    def model_id(self) -> str:
        return f"msclap-{self.version}"

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))


VARIANTS = {
    "2022": MsClapVariant(version="2022", audio_tower="cnn14", file_name="CLAP_weights_2022.pth"),
    # HTSATWrapper ignores the yml's audio settings and builds its front end from msclap/models/config.py:
    # mel bank for 32 kHz, 50–14,000 Hz, on audio resampled to 44.1 kHz (CLAPWrapper); 7 s clips (the yml's
    # duration; 10 s at 44.1 kHz would exceed the HTSAT's 1024 frames).
    "2023": MsClapVariant(version="2023", audio_tower="htsat", file_name="CLAP_weights_2023.pth", fmax=14_000,
                          out_emb=768, clip_seconds=7.0, mel_sample_rate=32_000, text_model="gpt2", text_len=77),
}
SUPPORTED_AUDIO = ("2022", "2023")  # audio towers: msclap_audio (Cnn14), msclap_htsat (HTSAT)

# Tensors the reader accepts but does not require (fixed math or bookkeeping, see the module docstring).
OPTIONAL_SUFFIXES = ("num_batches_tracked", "spectrogram_extractor.stft.conv_real.weight",
                     "spectrogram_extractor.stft.conv_imag.weight", "logmel_extractor.melW")


def load_checkpoint(path) -> object:
    """The msclap file's object (`torch_files.read_checkpoint`: never unsafe unpickling)."""
    return read_checkpoint(path, what="a Microsoft CLAP checkpoint", error=ClapModelError,
                           unsafe_advice="Use Microsoft's CLAP_weights_2022.pth as released, or re-save only "
                                         "{'model': state_dict}")


def is_msclap_checkpoint(obj) -> bool:
    """True for msclap's file format: `{"model": {name: tensor}}` with `audio_encoder.*` tensors."""
    model = obj.get("model") if isinstance(obj, dict) else None
    return isinstance(model, dict) and any(isinstance(k, str) and k.startswith(AUDIO_PREFIX) for k in model)


def describe_checkpoint(obj) -> str:
    """A few words on what a checkpoint that is not an msclap file is, for error messages."""
    if not isinstance(obj, dict):
        return f"a {type(obj).__name__}, not a dict of tensors"
    from .laion_convert import is_laion_state_dict
    if is_laion_state_dict(obj):
        return ("a LAION-CLAP checkpoint (audio_branch.* tensors), not a Microsoft CLAP file: load it with "
                "Load Audio Encoder (load_audio_encoder), which reads it as LAION-CLAP")
    keys = [k for k in obj if isinstance(k, str)][:3]
    return f"not a Microsoft CLAP file (no {{'model': {{'audio_encoder.*': ...}}}}; top-level keys e.g. {keys})"


def _optional(key: str) -> bool:
    return key.endswith(OPTIONAL_SUFFIXES)


def layout_problems(state: dict, layout: dict[str, tuple[int, ...]], prefix: str = AUDIO_PREFIX) -> list[str]:
    """Differences between the `prefix*` tensors of `state` and a declared layout ([] = it fits)."""
    problems = []
    audio = {k: v for k, v in state.items() if isinstance(k, str) and k.startswith(prefix)}
    for k, shape in layout.items():
        t = audio.get(k)
        if t is None:
            if not _optional(k):
                problems.append(f"{k} is missing (expected shape {list(shape)})")
        elif not isinstance(t, torch.Tensor):
            problems.append(f"{k} is a {type(t).__name__}, not a tensor (expected shape {list(shape)})")
        elif tuple(t.shape) != shape:
            problems.append(f"{k} has shape {list(t.shape)}, expected {list(shape)}")
    problems += [f"{k} is unexpected (shape {list(getattr(audio[k], 'shape', []))})" for k in audio if k not in layout]
    return problems
