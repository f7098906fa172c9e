"""Custom ComfyUI socket types of the pack."""
from .comfy_api_pin import io

ClapModel = io.Custom("CLAP_MODEL")          # c2d_core.audio_encoder.AudioEncoder (CLAP, ImageBind)
AudioEmbeds = io.Custom("AUDIO_EMBEDS")      # c2d_core.embeds.AudioEmbeds
AudioAdapter = io.Custom("AUDIO_ADAPTER")    # nodes.adapter_loader.HostAdapter
AudioTokenEmbedder = io.Custom("AUDIOTOKEN_EMBEDDER")  # c2d_core.audiotoken.embedder.FGAEmbedder
GlueGenModel = io.Custom("GLUEGEN_MODEL")  # c2d_core.gluegen.translator.GlueNetSound
IPAdapterEmbeds = io.Custom("EMBEDS")        # IPAdapter_plus's image embeddings: a (N, 1024) tensor for ViT-H models

CATEGORY = "audio/clap2diffusion"
