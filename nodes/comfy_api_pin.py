"""The one place the pack imports ComfyUI's node API from.

`comfy_api.v0_0_2` re-exports `comfy_api.latest` (io, ui, ComfyExtension) in every ComfyUI we test (0.3.64 and
0.33.0; its adapter says STABLE = False): it is not frozen, so API changes reach us through either name, and the
tests against each supported ComfyUI are what catch them. Every node file imports `io` / `ui` / `ComfyExtension`
from here, so a ComfyUI that does freeze a version is one import to change.
"""
try:
    from comfy_api.v0_0_2 import ComfyExtension, io, ui  # noqa: F401
except ImportError:  # a ComfyUI without versioned APIs (older than 0.3.6x): its latest is what we were written for
    from comfy_api.latest import ComfyExtension, io, ui  # noqa: F401

API_VERSION = "0.0.2"
