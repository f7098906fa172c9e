from __future__ import annotations

import os
from dataclasses import dataclass

from .comfy_api_pin import io

from ..c2d_core.adapter_file import LoadedAdapter, load_adapter
from ..c2d_core.sonic_convert import find_pair, load_sonicdiffusion
from .model_paths import adapter_path, list_adapters
from .types import CATEGORY, AudioAdapter


@dataclass
class HostAdapter:
    """An adapter file loaded for ComfyUI: the weights and the ModelPatcher that lets ComfyUI's
    memory management move them with the UNet (loaded once, shared by every patched clone)."""

    loaded: LoadedAdapter
    patcher: object

    @property
    def adapter(self):
        return self.loaded.adapter


class C2DAudioAdapterLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DAudioAdapterLoader",
            display_name="Load Audio Adapter (C2D)",
            category=CATEGORY,
            description="Loads a CLAP2Diffusion audio adapter (.safetensors from models/audio_adapters/): "
                        "projector, gated audio attention per UNet block, null tokens and optional LoRA. A folder "
                        "models/audio_adapters/<name>/ holding SonicDiffusion's released pair (audio_projector_*.pth + "
                        "<name>.pt) is listed as <name> and converted on load.",
            inputs=[io.Combo.Input("adapter_name", options=list_adapters(),
                                   tooltip="adapter file in models/audio_adapters/, or a folder with a SonicDiffusion "
                                           "projector .pth + adapter .pt")],
            outputs=[AudioAdapter.Output(display_name="adapter", tooltip="audio adapter weights")],
        )

    @classmethod
    def execute(cls, adapter_name) -> io.NodeOutput:
        import comfy.model_management as mm
        import comfy.model_patcher

        path = adapter_path(adapter_name)
        loaded = load_sonicdiffusion(*find_pair(path)) if os.path.isdir(path) else load_adapter(path)
        patcher = comfy.model_patcher.ModelPatcher(
            loaded.adapter, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device())
        return io.NodeOutput(HostAdapter(loaded=loaded, patcher=patcher))
