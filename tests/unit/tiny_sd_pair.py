"""A tiny SD1.x UNet twice, for host parity tests of text-path methods (AudioToken, GlueGen): diffusers'
UNet2DConditionModel (the original projects' UNet) and ComfyUI's SD15 model of the same weights; and a ComfyUI
model wrapper that runs the diffusers UNet with the original's conditioning inside ComfyUI's sampler."""
from __future__ import annotations

import torch

from sonic_reference import COMFY_TINY, DIFFUSERS_TINY


def tiny_pair(seed: int):
    """(diffusers tiny SD1.x UNet, ComfyUI SD15 ModelPatcher of the same weights); needs a ComfyUI host."""
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.supported_models
    import comfy.utils
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**DIFFUSERS_TINY).eval()
    mc = comfy.supported_models.SD15(dict(COMFY_TINY))
    mc.unet_config["num_heads"] = 8
    mc.set_inference_dtype(torch.float32, None)
    model = mc.get_model({})
    key_map = comfy.utils.unet_to_diffusers(mc.unet_config)
    model.diffusion_model.load_state_dict({key_map[k]: v for k, v in unet.state_dict().items()}, strict=True)
    return unet, comfy.model_patcher.ModelPatcher(model, mm.get_torch_device(), mm.unet_offload_device())


def reference_sampler(unet, ms, cond: torch.Tensor, uncond: torch.Tensor):
    """A `model_function_wrapper`: the diffusers UNet with the original's cond / uncond rows (by cond_or_uncond)."""
    def wrapper(apply_model, args):
        x, sigma, chunks = args["input"], args["timestep"], args["cond_or_uncond"]
        per = x.shape[0] // len(chunks)
        ctx = torch.cat([(uncond if k == 1 else cond).expand(per, -1, -1) for k in chunks])
        eps = unet(ms.calculate_input(sigma, x), ms.timestep(sigma).float(), encoder_hidden_states=ctx).sample
        return ms.calculate_denoised(sigma, eps, x)
    return wrapper
