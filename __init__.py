"""CLAP2Diffusion: drive Stable Diffusion with sound (ComfyUI custom node pack)."""
from typing_extensions import override

from .nodes.comfy_api_pin import ComfyExtension, io

from .nodes.model_paths import register_model_folders

register_model_folders()

from .nodes.adapter_loader import C2DAudioAdapterLoader  # noqa: E402
from .nodes.apply_adapter import C2DApplyAudioAdapter  # noqa: E402
from .nodes.audio_guider import C2DAudioGuider  # noqa: E402
from .nodes.audiotoken import C2DAudioTokenEncode, C2DAudioTokenLoader  # noqa: E402
from .nodes.audiotoken_timeline import C2DAudioTokenTimeline  # noqa: E402
from .nodes.gluegen import C2DGlueGenEncode, C2DGlueGenLoader  # noqa: E402
from .nodes.gluegen_timeline import C2DGlueGenTimeline  # noqa: E402
from .nodes.batch_embeds import C2DBatchAudioEmbeds  # noqa: E402
from .nodes.clap_encode import C2DCLAPEncode  # noqa: E402
from .nodes.clap_loader import C2DCLAPLoader  # noqa: E402
from .nodes.clap_text_encode import C2DCLAPTextEncode  # noqa: E402
from .nodes.embed_math import C2DBlendAudioEmbeds, C2DInterpolateAudioEmbeds  # noqa: E402
from .nodes.embeds_preview import C2DAudioEmbedsPreview  # noqa: E402
from .nodes.image_embeds import C2DAudioImageEmbeds  # noqa: E402
from .nodes.audio_edit_sampler import C2DAudioEditSampler  # noqa: E402
from .nodes.inversion_sampler import C2DInversionSampler  # noqa: E402
from .nodes.invert_latent import C2DInvertLatent  # noqa: E402
from .nodes.load_audio import C2DLoadAudio  # noqa: E402
from .nodes.sound_tags import C2DSoundTags  # noqa: E402
from .nodes.sync_score import C2DSyncScore  # noqa: E402
from .nodes.timeline import C2DAudioTimeline  # noqa: E402

WEB_DIRECTORY = "./web"  # front-end extension: the audio player of C2DLoadAudio

NODES = [C2DLoadAudio, C2DCLAPLoader, C2DCLAPEncode, C2DCLAPTextEncode, C2DAudioAdapterLoader,
         C2DApplyAudioAdapter, C2DBatchAudioEmbeds, C2DInvertLatent, C2DInversionSampler, C2DAudioEditSampler,
         C2DAudioGuider, C2DBlendAudioEmbeds, C2DInterpolateAudioEmbeds, C2DAudioTimeline, C2DAudioEmbedsPreview,
         C2DAudioImageEmbeds, C2DSoundTags, C2DSyncScore, C2DAudioTokenLoader, C2DAudioTokenEncode,
         C2DAudioTokenTimeline, C2DGlueGenLoader, C2DGlueGenEncode,
         C2DGlueGenTimeline]


class CLAP2DiffusionExtension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODES


async def comfy_entrypoint() -> CLAP2DiffusionExtension:
    return CLAP2DiffusionExtension()
