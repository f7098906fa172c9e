import logging

from .comfy_api_pin import io

from ..c2d_core.families import family_layout, supported_names
from ..c2d_core.patch import AudioAttentionPatch
from ..c2d_core.placement import BLOCK_PRESETS
from ..c2d_core.placement import block_weights as make_block_weights
from .comfy_model import install_patches, model_blocks, model_family, sigma_window
from .types import CATEGORY, AudioAdapter, AudioEmbeds

log = logging.getLogger(__name__)


def _schedule(value) -> list[float] | None:
    """A FLOAT list (or a single FLOAT, or a 1-D tensor) → list of per-image multipliers."""
    if value is None:
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    values = [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    if not values or any(v != v for v in values):
        raise ValueError("strength_schedule is empty or has NaN values; connect the loudness output of Audio Timeline")
    return values


class C2DApplyAudioAdapter(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DApplyAudioAdapter",
            display_name="Apply Audio Adapter (C2D)",
            category=CATEGORY,
            description="Patches the model with gated audio cross-attention: the image follows the sound. "
                        "Text conditioning is untouched; strength 0 gives exactly the unpatched model.",
            inputs=[
                io.Model.Input("model", tooltip=f"{supported_names()} model (fine-tunes and inpainting checkpoints "
                                                "too); the adapter must be made for the same family"),
                AudioAdapter.Input("adapter", tooltip="from Load Audio Adapter"),
                AudioEmbeds.Input("embeds", tooltip="from CLAP Encode Audio: one clip for the whole batch, or one per "
                                                    "image; on Wan, Audio Timeline's one per video frame: each latent "
                                                    "frame hears its own frames"),
                io.Float.Input("strength", default=1.0, min=0.0, max=2.0, step=0.01,
                               tooltip="audio influence: 0 = none (exact base model), 1 = as trained, >1 = exaggerated"),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                               tooltip="sampling progress at which audio starts acting"),
                io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.001,
                               tooltip="sampling progress at which audio stops acting"),
                io.Combo.Input("audio_blocks", options=list(BLOCK_PRESETS), default="all", optional=True,
                               tooltip="blocks the sound acts in. UNets (SD1.5, SDXL): all, mid_up (middle + decoder), "
                                       "up, mid, down, light (the first layer of each transformer: on SDXL 11 of its "
                                       "70 blocks, on SD1.5 the same as all). DiTs (Flux, Flux.2, Chroma, SD3.5, "
                                       "Qwen-Image, Z-Image, Wan): all, double (double-stream / joint blocks), "
                                       "single (the single-stream blocks of Flux, Flux.2 and Chroma)"),
                io.Float.Input("strength_schedule", optional=True, force_input=True,
                               tooltip="per-image strength multipliers (a FLOAT list, e.g. the loudness envelope of "
                                       "Audio Timeline): image i of the batch gets strength × schedule[i]"),
                io.String.Input("block_weights", default="", optional=True,
                                tooltip="per-block weights on top: e.g. 'middle=1.5, output_4=0' or 'single=0.5, "
                                        "double_3=0' (stage, block key or key prefix = number)"),
            ],
            outputs=[io.Model.Output(tooltip="the model with audio attention; use it with any sampler")],
        )

    @classmethod
    def execute(cls, model, adapter, embeds, strength, start_percent, end_percent, audio_blocks="all",
                block_weights="", strength_schedule=None) -> io.NodeOutput:
        family = model_family(model)
        blocks, context_dim = model_blocks(model, family)
        adapter.adapter.check_fits(blocks, context_dim, family)
        adapter.adapter.check_clap(embeds.clap_dim)
        trained_with = adapter.adapter.config.clap_model_id
        if trained_with and embeds.clap_model_id and trained_with != embeds.clap_model_id:
            log.warning("audio adapter was trained with CLAP %r but the audio was encoded with %r; same width, "
                        "so it runs, but results may be weak: load %r in Load CLAP Model",
                        trained_with, embeds.clap_model_id, trained_with)
        sigma_start, sigma_end = sigma_window(model, start_percent, end_percent)
        weights = make_block_weights(adapter.adapter.config.blocks, audio_blocks, block_weights,
                                     family_layout(family).placements)
        patch = AudioAttentionPatch(adapter.adapter, embeds.embeds, strength=strength, sigma_start=sigma_start,
                                    sigma_end=sigma_end, enabled=start_percent < end_percent, block_weights=weights,
                                    image_weights=_schedule(strength_schedule))
        patch.host_models = [adapter.patcher]
        patched = model.clone()
        install_patches(patched, patch.transformer_patches())  # UNet: middle_patch (+ attn2_output_patch); DiT: blocks
        if adapter.loaded.lora and strength > 0:
            import comfy.lora
            key_map = comfy.lora.model_lora_keys_unet(patched.model, {})
            patched.add_patches(comfy.lora.load_lora(adapter.loaded.lora, key_map), min(strength, 1.0))
        return io.NodeOutput(patched)
