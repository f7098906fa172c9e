"""Shared loading helpers of the CLAP towers: transformers (imported on use), quiet loading, reading a LAION-CLAP
checkpoint through the pack's one safe reader."""
from __future__ import annotations

import contextlib
from pathlib import Path

from ..errors import ClapModelError
from ..torch_files import read_checkpoint


def transformers_module():
    try:
        import transformers
    except ImportError as e:  # pragma: no cover - requirements.txt installs it
        raise ClapModelError("the CLAP encoder needs the 'transformers' package: pip install -r requirements.txt") from e
    return transformers


def read_state_dict(path: Path) -> dict:
    """Tensors of a LAION-CLAP checkpoint file (`torch_files.read_checkpoint`: never unsafe unpickling)."""
    return read_checkpoint(path, what="a CLAP checkpoint", error=ClapModelError,
                           unsafe_advice="Use the Hugging Face folder of the same model (e.g. laion/clap-htsat-unfused) "
                                         "or re-save only its state_dict")


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
