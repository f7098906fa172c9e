"""ImageBind's own code as the parity reference (tests only; nothing shipped imports it).

`imagebind-unofficial` (PyPI, Meta's facebookresearch/ImageBind code, CC BY-NC-SA 4.0) and `pytorchvideo` are installed
`--no-deps` by scripts/setup_env.sh. Import shims for current packages, none of which touches the audio path:
- `pkg_resources` (gone from current setuptools): data.py imports it for the text BPE file's path only;
- `pytorchvideo.data` imports every video dataset (fvcore, av, ...) in its `__init__`, and data.py imports
  pytorchvideo's video transforms and `EncodedVideo`: those packages are stubbed, and pytorchvideo's real
  `data/clip_sampling.py` (the `ConstantClipsPerVideoSampler` the audio path uses) is loaded from its file.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest


def _stub(name: str, **attrs) -> types.ModuleType:
    module = sys.modules.get(name) or types.ModuleType(name)
    for k, v in attrs.items():
        setattr(module, k, v)
    sys.modules[name] = module
    return module


def imagebind_modules():
    """(imagebind.models.imagebind_model, imagebind.data), or a skip naming what is missing."""
    if "imagebind.data" in sys.modules:
        from imagebind.models import imagebind_model
        return imagebind_model, sys.modules["imagebind.data"]
    for name in ("imagebind", "pytorchvideo", "timm", "ftfy", "iopath"):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"ImageBind parity reference needs {name} (scripts/setup_env.sh installs it); "
                        "ImageBind parity did NOT run")
    if importlib.util.find_spec("pkg_resources") is None:
        _stub("pkg_resources", resource_filename=lambda package, path: path)
    root = Path(importlib.util.find_spec("pytorchvideo").submodule_search_locations[0])
    pv = _stub("pytorchvideo")
    pv.__path__ = []  # a package, so its submodules below resolve from sys.modules
    pv.transforms = _stub("pytorchvideo.transforms")
    pv.data = _stub("pytorchvideo.data")
    pv.data.__path__ = []
    _stub("pytorchvideo.data.encoded_video", EncodedVideo=None)
    spec = importlib.util.spec_from_file_location("pytorchvideo.data.clip_sampling", root / "data" / "clip_sampling.py")
    clip_sampling = importlib.util.module_from_spec(spec)
    sys.modules["pytorchvideo.data.clip_sampling"] = clip_sampling
    spec.loader.exec_module(clip_sampling)
    import imagebind.data as data
    from imagebind.models import imagebind_model
    return imagebind_model, data
