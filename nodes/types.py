"""Custom ComfyUI socket types of the pack."""
from .comfy_api_pin import io

ClapModel = io.Custom("CLAP_MODEL")          # c2d_core.clap.encoder.ClapAudioEncoder
AudioEmbeds = io.Custom("AUDIO_EMBEDS")      # c2d_core.embeds.AudioEmbeds
AudioAdapter = io.Custom("AUDIO_ADAPTER")    # nodes.adapter_loader.HostAdapter

CATEGORY = "audio/clap2diffusion"
