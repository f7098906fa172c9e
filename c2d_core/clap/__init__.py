"""CLAP encoders besides LAION/Hugging Face (`c2d_core.clap_encoder`): Microsoft CLAP (`msclap`) files."""
from .msclap_encoder import MsClapAudioEncoder
from .msclap_file import VARIANTS as MSCLAP_VARIANTS, MsClapVariant, is_msclap_checkpoint

__all__ = ["MsClapAudioEncoder", "MsClapVariant", "MSCLAP_VARIANTS", "is_msclap_checkpoint"]
