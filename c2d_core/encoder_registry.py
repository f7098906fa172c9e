"""Every audio encoder file format the pack reads, and the one entry point that loads any of them.

`load_audio_encoder(path)` reads a checkpoint file once with the pack's safe reader (`torch_files`: no unsafe
unpickling, torch files memory-mapped so tensors an encoder drops are never read) and asks each registered format
whether the file is of its declared layout; exactly one must claim it. A folder is offered to the folder formats.
Adding an encoder = one module with its `AudioEncoder` subclass and `EncoderFormat`, plus one line in `FORMATS`.
"""
from __future__ import annotations

from pathlib import Path

from .audio_encoder import AudioEncoder, EncoderFormat
from .audioclip.encoder import FORMAT as AUDIOCLIP_FORMAT
from .beats.encoder import FORMAT as BEATS_FORMAT
from .clap.encoder import HF_FOLDER_FORMAT, LAION_FORMAT
from .clap.msclap_encoder import FORMAT as MSCLAP_FORMAT
from .errors import ClapModelError
from .imagebind.encoder import FORMAT as IMAGEBIND_FORMAT
from .torch_files import CHECKPOINT_SUFFIXES, read_checkpoint, top_level_keys

FORMATS: dict[str, EncoderFormat] = {f.name: f for f in (
    HF_FOLDER_FORMAT,
    LAION_FORMAT,
    MSCLAP_FORMAT,
    IMAGEBIND_FORMAT,
    BEATS_FORMAT,
    AUDIOCLIP_FORMAT,
)}

MODEL_FOLDERS = "ComfyUI/models/clap/ or ComfyUI/models/audio_encoders/"


def _expected(folder: bool) -> str:
    return "; ".join(f.describe for f in FORMATS.values() if (f.claims_folder if folder else f.claims_file))


def claiming_formats(obj) -> list[EncoderFormat]:
    """The file formats whose declared layout a read checkpoint object has (one for a good file)."""
    return [f for f in FORMATS.values() if f.claims_file is not None and f.claims_file(obj)]


def load_audio_encoder(path, device=None, dtype=None) -> AudioEncoder:
    """A model folder or checkpoint file → its AudioEncoder (weights on `device` in `dtype`, default CPU fp32)."""
    path = Path(path)
    if not path.exists():
        raise ClapModelError(f"audio encoder not found: {path}; put a CLAP model or another audio encoder into "
                             f"{MODEL_FOLDERS} ({_expected(folder=False)}; or {_expected(folder=True)})")
    if path.is_dir():
        claimed = [f for f in FORMATS.values() if f.claims_folder is not None and f.claims_folder(path)]
        if not claimed:
            raise ClapModelError(f"{path} is a folder but not a model folder the pack reads: expected "
                                 f"{_expected(folder=True)}; it has no config.json")
        return claimed[0].load(path, None, device, dtype)
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise ClapModelError(f"{path.name} is not a CLAP model or another audio encoder: expected a model folder or "
                             f"a checkpoint file ({', '.join(CHECKPOINT_SUFFIXES)})")
    obj = read_checkpoint(path, what="an audio encoder checkpoint", error=ClapModelError, mmap=True,
                          unsafe_advice="Use the file as its authors release it (a Hugging Face folder for LAION "
                                        "CLAP, CLAP_weights_2022.pth for Microsoft CLAP, imagebind_huge.pth, a BEATs "
                                        ".pt, AudioCLIP-Full-Training.pt), or re-save only its state_dict")
    claimed = claiming_formats(obj)
    if not claimed:
        raise ClapModelError(f"{path.name} is not an audio encoder file the pack reads ({top_level_keys(obj)}); "
                             f"expected {_expected(folder=False)}")
    if len(claimed) > 1:  # the declared layouts overlap: a bug in the registry, not a bad file
        raise ClapModelError(f"{path.name} fits several formats ({[f.name for f in claimed]}); report it")
    return claimed[0].load(path, obj, device, dtype)
