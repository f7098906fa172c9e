from __future__ import annotations

from dataclasses import dataclass

import folder_paths
from .comfy_api_pin import io

from ..c2d_core.adapter_file import LoadedAdapter, load_adapter
from .model_paths import ADAPTER_FOLDER
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
                        "projector, gated audio attention per UNet block, null tokens and optional LoRA.",
            inputs=[io.Combo.Input("adapter_name", options=folder_paths.get_filename_list(ADAPTER_FOLDER),
                                   tooltip="adapter file in models/audio_adapters/")],
            outputs=[AudioAdapter.Output(display_name="adapter", tooltip="audio adapter weights")],
        )

    @classmethod
    def execute(cls, adapter_name) -> io.NodeOutput:
        import comfy.model_management as mm
        import comfy.model_patcher

        loaded = load_adapter(folder_paths.get_full_path_or_raise(ADAPTER_FOLDER, adapter_name))
        patcher = comfy.model_patcher.ModelPatcher(
            loaded.adapter, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device())
        return io.NodeOutput(HostAdapter(loaded=loaded, patcher=patcher))
