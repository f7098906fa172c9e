"""torchaudio's Kaldi-compatible fbank, which ImageBind's and BEATs' own code use for their inputs."""
from __future__ import annotations

from .errors import AudioInputError, wrap_upstream


def kaldi(model: str):
    """`torchaudio.compliance.kaldi`, or an error naming the model that needs it and the fix."""
    try:
        import torchaudio.compliance.kaldi as kaldi_module
    except ImportError as e:  # pragma: no cover - ComfyUI ships torchaudio
        raise AudioInputError(wrap_upstream(f"{model}'s audio features need torchaudio (its kaldi fbank): pip "
                                            "install torchaudio (the version matching your torch)", e)) from e
    return kaldi_module
