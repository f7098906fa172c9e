"""Shared loading helpers of the CLAP towers: transformers (imported on use), quiet loading, reading a checkpoint
file's tensors without unsafe unpickling."""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from ..errors import ClapModelError, wrap_upstream


def transformers_module():
    try:
        import transformers
    except ImportError as e:  # pragma: no cover - requirements.txt installs it
        raise ClapModelError("the CLAP encoder needs the 'transformers' package: pip install -r requirements.txt") from e
    return transformers


def read_state_dict(path: Path) -> dict:
    """Tensors of a checkpoint file; refuses anything that needs unsafe unpickling."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except Exception as e:
            raise ClapModelError(wrap_upstream(f"{path.name} is not a readable safetensors file; download it again",
                                               e)) from e
    import pickle
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ClapModelError(wrap_upstream(
            f"{path.name} needs unsafe unpickling (it stores Python objects besides tensors), so it was refused: "
            "a file like that can run arbitrary code. Use the Hugging Face folder of the same model "
            "(e.g. laion/clap-htsat-unfused) or re-save only its state_dict", e)) from e
    except Exception as e:
        raise ClapModelError(wrap_upstream(f"could not read {path.name} as a torch checkpoint: the file is truncated "
                                           "or not a CLAP checkpoint; download it again", e)) from e


@contextlib.contextmanager
def quiet_transformers(tf):
    level = tf.logging.get_verbosity()
    tf.logging.set_verbosity_error()
    tf.logging.disable_progress_bar()
    try:
        yield
    finally:
        tf.logging.set_verbosity(level)
        tf.logging.enable_progress_bar()
