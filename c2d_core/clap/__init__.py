"""CLAP encoders: Hugging Face / LAION-CLAP (`encoder`, `text`, `laion_convert`, `laion_text_convert`) and Microsoft
CLAP files (`msclap_*`); `hf` holds their shared loading helpers. The Microsoft CLAP names are exported here."""
from .msclap_encoder import MsClapAudioEncoder
from .msclap_file import VARIANTS as MSCLAP_VARIANTS, MsClapVariant, is_msclap_checkpoint

__all__ = ["MsClapAudioEncoder", "MsClapVariant", "MSCLAP_VARIANTS", "is_msclap_checkpoint"]
