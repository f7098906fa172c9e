"""GlueGen's nodes: load its sound GlueNet; a sound (optionally mixed with a prompt) → SD1.x CONDITIONING."""
import torch

from .comfy_api_pin import io

from ..c2d_core.errors import ClapModelError, UnsupportedModelError
from ..c2d_core.gluegen.condition import MIX_TOKENS, RELEASED_FILE, load_gluenet, mix_with_text, sound_condition
from ..c2d_core.gluegen.translator import OUT_DIM
from ..c2d_core.torch_files import read_checkpoint
from .audio_input import read_audio
from .clip_stream import single_clip_stream
from .model_paths import gluegen_path, list_gluegen_models
from .types import CATEGORY, ClapModel, GlueGenModel


class C2DGlueGenLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DGlueGenLoader",
            display_name="Load GlueGen Sound Model (C2D)",
            category=CATEGORY,
            description=f"Loads GlueGen's sound GlueNet ({RELEASED_FILE}, salesforce/GlueGen, Apache-2.0) from "
                        "models/gluegen/, read safely (no unsafe unpickling), every tensor checked. It translates "
                        "AudioCLIP's audio embedding into SD1.x's CLIP text condition.",
            inputs=[io.Combo.Input("gluegen_name", options=list_gluegen_models(),
                                   tooltip=f"GlueGen's {RELEASED_FILE} in models/gluegen/")],
            outputs=[GlueGenModel.Output(display_name="gluegen", tooltip="GlueGen's sound GlueNet")],
        )

    @classmethod
    def execute(cls, gluegen_name) -> io.NodeOutput:
        obj = read_checkpoint(gluegen_path(gluegen_name), what="GlueGen's sound GlueNet", error=ClapModelError,
                              unsafe_advice=f"Use {RELEASED_FILE} as GlueGen releases it")
        return io.NodeOutput(load_gluenet(obj, gluegen_name))


def gluegen_inputs(audio_tooltip: str) -> list:
    """The inputs GlueGen Sound Encode and GlueGen Timeline Encode share."""
    return [
        io.Clip.Input("clip", tooltip="the SD1.x checkpoint's CLIP (for the negative and the text mix)"),
        ClapModel.Input("audioclip", tooltip="AudioCLIP-Full-Training.pt from Load CLAP Model"),
        GlueGenModel.Input("gluegen", tooltip="from Load GlueGen Sound Model"),
        io.Audio.Input("audio", tooltip=audio_tooltip),
        io.String.Input("text", multiline=True, default="",
                        tooltip="empty: the sound alone (GlueGen's sound → image); a prompt such as \"in Chinese "
                                "painting style\": GlueGen's sound + text mix"),
        io.Int.Input("mix_tokens", default=5, min=MIX_TOKENS[0], max=MIX_TOKENS[1],
                     tooltip="sound + text only: how many leading tokens of each are kept before the average "
                             "(GlueGen's script shows 3 to 7)"),
    ]


class C2DGlueGenEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DGlueGenEncode",
            display_name="GlueGen Sound Encode (C2D)",
            category=CATEGORY,
            description="GlueGen: AudioCLIP hears the clip's first 4 s and GlueNet turns it into the condition SD1.x's "
                        "CLIP would give a prompt (77 × 768), used as the positive conditioning. With text, GlueGen's "
                        "sound + text mix: the first mix_tokens tokens of the sound, then of the prompt, then their "
                        "average. The negative is the empty prompt (as GlueGen). SD1.x only; one row per clip.",
            inputs=gluegen_inputs("any sample rate and channel count; the first 4 s are used"),
            outputs=[io.Conditioning.Output(display_name="positive", tooltip="the sound's condition"),
                     io.Conditioning.Output(display_name="negative", tooltip="the empty prompt's condition")],
        )

    @classmethod
    def execute(cls, clip, audioclip, gluegen, audio, text="", mix_tokens=5) -> io.NodeOutput:
        check_clip(clip)
        waveform, rate = read_audio(audio)
        sound = sound_condition(audioclip, gluegen, waveform, rate)                     # (B, 77, 768)
        return io.NodeOutput(*conditionings(clip, sound, text, mix_tokens))


def check_clip(clip) -> None:
    """GlueGen's conditions are CLIP ViT-L's: an SD1.x CLIP, nothing else."""
    _, width = single_clip_stream(clip, method="GlueGen", trained_on="SD v1.5")
    if width != OUT_DIM:
        raise UnsupportedModelError(f"GlueGen makes CLIP ViT-L conditions ({OUT_DIM} wide) but this CLIP's are "
                                    f"{width} wide (SD2.x); load an SD1.x checkpoint")


def conditionings(clip, sound: torch.Tensor, text: str, mix_tokens: int) -> tuple[list, list]:
    """(positive, negative) CONDITIONING: the sound's conditions (N, 77, 768), mixed with `text` when it is not
    empty; the negative is the empty prompt's."""
    negative = clip.encode_from_tokens_scheduled(clip.tokenize(""))
    if not text.strip():
        return [[sound, {"pooled_output": negative[0][1].get("pooled_output")}]], negative
    prompt = clip.encode_from_tokens_scheduled(clip.tokenize(text))
    return [[mix_with_text(sound, c.float(), mix_tokens), dict(extra)] for c, extra in prompt], negative
