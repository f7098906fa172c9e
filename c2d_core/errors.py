"""Errors raised by CLAP2Diffusion. Each message says what is wrong and what to do about it.

All inherit from ``ValueError`` so ComfyUI shows the message in its error dialog instead of a
deep torch stack trace.
"""


class C2DError(ValueError):
    """Base class of every user-facing CLAP2Diffusion error."""


class AudioInputError(C2DError):
    """The audio (file, samples, rate, channels) cannot be used."""


class ClapModelError(C2DError):
    """The CLAP model file or folder cannot be loaded."""


class AdapterFileError(C2DError):
    """The file is not a readable CLAP2Diffusion adapter (corrupt, truncated, unsafe, wrong format)."""


class AdapterMismatchError(C2DError):
    """The adapter does not fit the model or the CLAP encoder it is used with."""


class UnsupportedModelError(C2DError):
    """The diffusion model family is not supported (yet)."""


class SoundPromptError(C2DError):
    """The text of a sound prompt cannot be used (empty, nothing to encode)."""


class EditInputError(C2DError):
    """Inputs of the edit nodes do not belong together (latent, model, sigmas, mask, blocks)."""
