"""GlueGen's sound condition and its "sound + text" mix; the released GlueNet file.

Sound only (GlueGen's `FrozenAudioCLIPEmbedder`): AudioCLIP's embedding of the clip's first 4 s, L2-normalised →
GlueNet → (B, 77, 768), used in place of the CLIP text condition; the negative is the empty prompt's condition
(their `null_cond_tensor.pt` is CLIP-L/14's encoding of "").
Sound + text (`sound2img_audio_text_mix_loop.py`): c_mix = [c[:i], t[:i], (c[2i:] + t[2i:]) / 2] along the tokens,
i ∈ 3…7 in their script (77 tokens again; tokens i…2i−1 of both are dropped).
"""
from __future__ import annotations

import torch

from ..audio import prepare_waveform
from ..errors import ClapModelError, UnsupportedModelError
from ..torch_files import load_checked, tensor_dict
from .translator import GlueNetSound

RELEASED_FILE = "gluenet_sound2img_audioclip_us8k.ckpt"
MIX_TOKENS = (3, 7)  # the range of i their mixing script loops over


def load_gluenet(obj, name: str = "the file") -> GlueNetSound:
    """A read (`weights_only`) GlueNet state dict → GlueNetSound; every name and shape checked."""
    state = tensor_dict(obj, name=name, what="GlueGen's sound GlueNet", error=ClapModelError,
                        advice=f"use {RELEASED_FILE} as GlueGen releases it")
    return load_checked(GlueNetSound, state,
                        what=f"{name} is not GlueGen's sound GlueNet (Translator_w_head 16→77 tokens, 64→768)",
                        advice=f"Use {RELEASED_FILE} as released", error=ClapModelError)


def check_encoder(encoder) -> None:
    if getattr(encoder, "family", None) != "AudioCLIP":
        raise ClapModelError(f"GlueGen's GlueNet was trained on AudioCLIP's audio embeddings, but the audio encoder is "
                             f"{encoder.model_id} ({encoder.family}); load AudioCLIP-Full-Training.pt with Load CLAP "
                             "Model")


@torch.no_grad()
def sound_condition(encoder, gluenet: GlueNetSound, waveform, sample_rate, allow_silence: bool = False) -> torch.Tensor:
    """waveform: (B, C, T) | (C, T) | (T,) at any rate → (B, 77, 768) float32 CPU: GlueGen's sound condition."""
    check_encoder(encoder)
    mono = prepare_waveform(waveform, sample_rate, encoder.sample_rate, allow_silence)  # (B, T) at 44.1 kHz
    z = encoder.raw_embeddings(list(mono), allow_silence)                            # (B, 1024), first 4 s
    z = z / z.norm(dim=-1, keepdim=True)
    return gluenet.to(z.device)(z).float().cpu()


def mix_with_text(sound: torch.Tensor, text: torch.Tensor, i: int) -> torch.Tensor:
    """sound, text: (B, 77, 768) conditions → GlueGen's "sound + text" mix (B, 77, 768)."""
    if sound.shape[1:] != text.shape[1:] or text.shape[1] < 2 * i:
        raise UnsupportedModelError(f"the text conditioning has shape {tuple(text.shape)} but GlueGen mixes 77 × 768 "
                                    f"CLIP-L tokens ({tuple(sound.shape)}); use an SD1.x checkpoint's CLIP and a "
                                    "prompt of at most 75 tokens")
    text = text.to(sound).expand(sound.shape[0], -1, -1)
    return torch.cat((sound[:, :i], text[:, :i], (sound[:, 2 * i:] + text[:, 2 * i:]) / 2), dim=1)



class ConditionWindows:
    """GlueGen as a timeline's window encoder (`c2d_core.timeline.encode_timeline`): each frame's window → its
    condition. encode(windows (F, 1, T), rate) → (F, 77, 768)."""

    def __init__(self, encoder, gluenet: GlueNetSound):
        check_encoder(encoder)
        self.encoder, self.gluenet = encoder, gluenet

    def encode(self, windows, sample_rate, allow_silence: bool = False) -> torch.Tensor:
        return sound_condition(self.encoder, self.gluenet, windows, sample_rate, allow_silence)
