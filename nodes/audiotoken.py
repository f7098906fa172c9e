"""AudioToken's nodes: load its embedder; encode a prompt whose placeholder word is the sound (→ CONDITIONING)."""
import torch

from .comfy_api_pin import io

from ..c2d_core.audiotoken.embedder import RELEASED_FILE, load_embedder
from ..c2d_core.audiotoken.prompt import DEFAULT_PLACEHOLDER, check_prompt, mark_prompt, splice
from ..c2d_core.audiotoken.token import audio_tokens
from ..c2d_core.beats.config import AUDIOTOKEN_FILE
from ..c2d_core.errors import ClapModelError, UnsupportedModelError
from ..c2d_core.torch_files import read_checkpoint
from .audio_input import read_audio
from .clip_stream import SINGLE_CLIP_STREAMS, single_clip_stream
from .model_paths import audiotoken_path, list_audiotoken_embedders
from .types import CATEGORY, AudioTokenEmbedder, ClapModel

class C2DAudioTokenLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DAudioTokenLoader",
            display_name="Load AudioToken Embedder (C2D)",
            category=CATEGORY,
            description=f"Loads AudioToken's embedder ({RELEASED_FILE}, guyyariv/AudioToken, MIT) from "
                        "models/audiotoken/, read safely (no unsafe unpickling), every tensor checked. It turns "
                        f"BEATs features ({AUDIOTOKEN_FILE}) into one word of a CLIP prompt.",
            inputs=[io.Combo.Input("embedder_name", options=list_audiotoken_embedders(),
                                   tooltip=f"AudioToken's {RELEASED_FILE} in models/audiotoken/")],
            outputs=[AudioTokenEmbedder.Output(display_name="embedder", tooltip="AudioToken's FGA embedder")],
        )

    @classmethod
    def execute(cls, embedder_name) -> io.NodeOutput:
        path = audiotoken_path(embedder_name)
        obj = read_checkpoint(path, what="AudioToken's embedder", error=ClapModelError,
                              unsafe_advice=f"Use {RELEASED_FILE} as AudioToken releases it")
        return io.NodeOutput(load_embedder(obj, embedder_name))


def _concat(conds: list) -> list:
    """Conditionings of one clip each (same schedule) → one conditioning whose batch rows are the clips."""
    out = []
    for entries in zip(*conds):
        extra = dict(entries[0][1])
        if extra.get("pooled_output") is not None:
            extra["pooled_output"] = torch.cat([e[1]["pooled_output"] for e in entries])
        out.append([torch.cat([e[0] for e in entries]), extra])
    return out


def audiotoken_inputs(audio_tooltip: str) -> list:
    """The inputs AudioToken Text Encode and AudioToken Timeline Encode share."""
    return [
        io.Clip.Input("clip", tooltip="the SD1.x checkpoint's CLIP (AudioToken was trained on SD v1.4)"),
        ClapModel.Input("beats", tooltip=f"{AUDIOTOKEN_FILE} from Load CLAP Model (models/audio_encoders/)"),
        AudioTokenEmbedder.Input("embedder", tooltip="from Load AudioToken Embedder"),
        io.Audio.Input("audio", tooltip=audio_tooltip),
        io.String.Input("text", multiline=True, default=f"a photo of {DEFAULT_PLACEHOLDER}, 4k, high resolution",
                        tooltip="the prompt; the placeholder is replaced by the sound's token (weights like (… :1.2) "
                                "work as in CLIP Text Encode)"),
        io.String.Input("placeholder", default=DEFAULT_PLACEHOLDER,
                        tooltip="the word in the prompt that stands for the sound"),
    ]


class C2DAudioTokenEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DAudioTokenEncode",
            display_name="AudioToken Text Encode (C2D)",
            category=CATEGORY,
            description="CLIP Text Encode with a sound as one of its words (AudioToken): BEATs hears the clip "
                        "(looped or cut to 10 s), the embedder makes one token of it, and that token stands where "
                        f"the placeholder is in the prompt (\"a photo of {DEFAULT_PLACEHOLDER}\"). The output is a "
                        "plain CONDITIONING for any sampler, LoRA, ControlNet or inpainting graph. SD1.x/SD2.x only. "
                        "One conditioning row per clip of the AUDIO batch.",
            inputs=audiotoken_inputs("any sample rate and channel count; looped or cut to 10 s"),
            outputs=[io.Conditioning.Output(tooltip="the prompt's conditioning with the sound in it")],
        )

    @classmethod
    def execute(cls, clip, beats, embedder, audio, text, placeholder=DEFAULT_PLACEHOLDER) -> io.NodeOutput:
        stream, width = single_clip_stream(clip)  # an SDXL / SD3 / Flux CLIP or a prompt without the
        check_prompt(text, placeholder)            # placeholder: refused before BEATs runs
        waveform, rate = read_audio(audio)
        tokens = audio_tokens(beats, embedder, waveform, rate)                         # (B, width)
        return io.NodeOutput(encode_with_tokens(clip, stream, width, text, placeholder, tokens))


def encode_with_tokens(clip, stream: str, width: int, text: str, placeholder: str, tokens: torch.Tensor) -> list:
    """The prompt encoded once per audio token (tokens: (N, width)) on the CLIP's `stream` of token `width` (from
    `single_clip_stream`), as one CONDITIONING with N batch rows."""
    if tokens.shape[-1] != width:
        raise UnsupportedModelError(
            f"the AudioToken embedder makes {tokens.shape[-1]}-wide tokens but this CLIP's words are {width} wide "
            f"({SINGLE_CLIP_STREAMS[stream]}); use an embedder trained for this model")
    chunks, marker = mark_prompt(lambda t: clip.tokenize(t)[stream], text, placeholder)
    conds = [clip.encode_from_tokens_scheduled({stream: splice(chunks, marker, tok)}) for tok in tokens]
    return conds[0] if len(conds) == 1 else _concat(conds)
