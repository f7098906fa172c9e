from .comfy_api_pin import io

from ..c2d_core.clap.encoder import ClapAudioEncoder
from .model_paths import clap_model_path, list_clap_models
from .types import CATEGORY, ClapModel


class C2DCLAPLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DCLAPLoader",
            display_name="Load CLAP Model (C2D)",
            category=CATEGORY,
            description="Loads a CLAP encoder from models/clap/: a Hugging Face folder "
                        "(e.g. laion/clap-htsat-unfused), a LAION-CLAP .pt checkpoint or Microsoft CLAP's "
                        "CLAP_weights_2022.pth (SonicDiffusion's encoder, 1024-d); files are read safely and told "
                        "apart by their format. Only the audio tower is loaded here; CLAP Sound Prompt loads the "
                        "text tower on first use (LAION/Hugging Face models).",
            inputs=[io.Combo.Input("clap_name", options=list_clap_models(),
                                   tooltip="CLAP model in models/clap/ (folder or file)")],
            outputs=[ClapModel.Output(display_name="clap", tooltip="CLAP encoder (audio; text on demand)")],
        )

    @classmethod
    def execute(cls, clap_name) -> io.NodeOutput:
        import comfy.model_management as mm
        encoder = ClapAudioEncoder.from_path(clap_model_path(clap_name), device=mm.text_encoder_device())
        return io.NodeOutput(encoder)
