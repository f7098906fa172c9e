"""The one place the pack imports ComfyUI's node API from.

`comfy_api.v0_0_2` is a versioned API that newer ComfyUI keeps frozen, while `comfy_api.latest` changes
with every release; every node file imports `io` / `ui` / `ComfyExtension` from here.
"""
try:
    from comfy_api.v0_0_2 import ComfyExtension, io, ui  # noqa: F401
except ImportError:  # a ComfyUI without versioned APIs (older than 0.3.6x): its latest is what we were written for
    from comfy_api.latest import ComfyExtension, io, ui  # noqa: F401

API_VERSION = "0.0.2"
