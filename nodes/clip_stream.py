"""Which CLIP a text-path audio method (AudioToken, GlueGen) is given: one stream (SD1.x "l", SD2.x "h") or not."""
from ..c2d_core.errors import UnsupportedModelError

SINGLE_CLIP_STREAMS = {"l": "SD1.x (CLIP ViT-L)", "h": "SD2.x (OpenCLIP ViT-H)"}


def single_clip_stream(clip, method: str = "AudioToken", trained_on: str = "SD v1.4") -> tuple[str, int]:
    """(the CLIP's one token stream, its token width), or an error for multi-encoder CLIPs (SDXL, SD3, Flux …)."""
    streams = sorted(clip.tokenize("").keys())
    if len(streams) != 1 or streams[0] not in SINGLE_CLIP_STREAMS:
        raise UnsupportedModelError(f"{method} conditions SD1.x / SD2.x models through their one CLIP, but "
                                    f"this CLIP has the text encoders {streams} (SDXL, SD3, Flux …); load an SD1.x "
                                    f"checkpoint ({method} was trained on {trained_on})")
    encoder = getattr(clip.cond_stage_model, f"clip_{streams[0]}")
    return streams[0], int(encoder.transformer.get_input_embeddings().weight.shape[-1])
