from .comfy_api_pin import io

from ..c2d_core.encoder_registry import FORMATS, load_audio_encoder
from .model_paths import clap_model_path, list_clap_models
from .types import CATEGORY, ClapModel


class C2DCLAPLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DCLAPLoader",
            display_name="Load CLAP Model (C2D)",
            category=CATEGORY,
            description="Loads an audio encoder from models/clap/ or ComfyUI's models/audio_encoders/, read safely "
                        "(no unsafe unpickling) and told apart by the file's layout: "
                        + "; ".join(f.describe for f in FORMATS.values())
                        + ". Microsoft CLAP 2022 is SonicDiffusion's encoder (1024-d). Only the audio tower is loaded "
                          "here; CLAP Sound Prompt loads a CLAP's text tower on first use.",
            inputs=[io.Combo.Input("clap_name", options=list_clap_models(),
                                   tooltip="audio encoder in models/clap/ or models/audio_encoders/ (folder or file)")],
            outputs=[ClapModel.Output(display_name="clap", tooltip="CLAP encoder (audio; text on demand)")],
        )

    @classmethod
    def execute(cls, clap_name) -> io.NodeOutput:
        import comfy.model_management as mm
        encoder = load_audio_encoder(clap_model_path(clap_name), device=mm.text_encoder_device())
        return io.NodeOutput(encoder)
