"""The frozen base model the adapter trains against, always a ComfyUI `BaseModel`.

- `load_checkpoint`: the user's checkpoint through ComfyUI's own loaders (`comfy.sd.load_checkpoint_guess_config`;
  `load_diffusion_model` for a diffusion-model-only file such as Flux's), so block ids and attention code are the
  inference ones.
- `build_tiny`: a tiny UNet (ComfyUI's SD15 / SDXL model config with small widths) or a tiny DiT
  (training/tiny_dit.py) for tests and the synthetic benchmarks; every tensor is initialised explicitly (ComfyUI
  allocates uninitialised storage).

Either way the trainer uses `base.diffusion_model` (UNet or DiT) and `base.model_sampling`
(sigmas ↔ timesteps, input scaling, the objective: the same object ComfyUI samples with).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import inspect

import torch

from c2d_core.errors import CheckpointFileError, UnsupportedModelError, wrap_upstream
from c2d_core.families import REGISTRY, family_from_comfy_config, family_layout, family_name, family_spec, \
    objective_of, supported_names
from c2d_core.seeded_init import seeded_tensor

from .config import ModelConfig, TinyUNetConfig
from .host import import_comfy

log = logging.getLogger(__name__)
OBJECTIVE_WORDS = {"eps": "eps-prediction", "v": "v-prediction", "flow": "flow-matching", "edm": "EDM"}

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Base:
    """The frozen model: `model` is a comfy.model_base.BaseModel; clip/vae only when asked for (prepare)."""

    model: torch.nn.Module
    family: str
    kind: str              # "checkpoint" or "tiny"
    source: str            # checkpoint path, tiny weights path or "random"
    clip: object = None
    vae: object = None

    @property
    def unet(self) -> torch.nn.Module:
        return self.model.diffusion_model

    @property
    def model_sampling(self):
        return self.model.model_sampling


def family_of(model_config) -> str:
    """Our family id of a checkpoint the trainer can train on, else an error naming what it trains."""
    trained = supported_names(trainable=True)
    family = family_from_comfy_config(type(model_config).__name__, what="the checkpoint",
                                      fix=f"give an {trained} checkpoint in model.checkpoint")
    if not family_spec(family).trains:
        raise UnsupportedModelError(
            f"the checkpoint is a {family_name(family)} model: the nodes run {family_name(family)} audio adapters, but "
            f"the trainer trains {trained} checkpoints only so far; give one of those in model.checkpoint (an untrained "
            f"{family_name(family)} adapter: python -m training init --family {family})")
    return family


def layout_unet_config(layout, **overrides) -> dict:
    """ComfyUI UNetModel arguments of a declared c2d_core.families.UNetLayout (real widths); `overrides` replace
    any of them (the tiny SDXL: model_channels, context_dim, heads)."""
    depth, res = layout.transformer_depth, layout.num_res_blocks
    config = dict(
        image_size=32, in_channels=4, out_channels=4, model_channels=layout.model_channels,
        num_res_blocks=[res] * len(layout.channel_mult), channel_mult=list(layout.channel_mult),
        transformer_depth=[d for d in depth for _ in range(res)],
        transformer_depth_middle=layout.transformer_depth_middle,
        transformer_depth_output=[d for d in depth for _ in range(res + 1)],
        context_dim=layout.context_dim, num_heads=layout.num_heads, num_head_channels=layout.num_head_channels,
        use_linear_in_transformer=layout.adm_in_channels is not None, use_spatial_transformer=True, legacy=False,
        adm_in_channels=layout.adm_in_channels, num_classes="sequential" if layout.adm_in_channels else None,
        use_temporal_attention=False, use_temporal_resblock=False, use_checkpoint=False)
    return {**config, **overrides}


def tiny_unet_config(t: TinyUNetConfig) -> dict:
    """UNetModel arguments of the tiny UNet: sd15 family (attention at every level, like SD1.5's upper levels) or
    another family's declared block structure (e.g. SDXL's 70 blocks: families/sdxl.py) at t.model_channels width."""
    if not family_spec(t.family).trains:
        raise ValueError(f"model.tiny_unet.family {t.family!r}: the trainer trains {supported_names(trainable=True)} "
                         "families only so far")
    if t.family != "sd15":  # another family: its declared block structure at toy width
        return layout_unet_config(family_layout(t.family), in_channels=t.in_channels,
                                  model_channels=t.model_channels, context_dim=t.context_dim, num_heads=t.num_heads,
                                  num_head_channels=-1)
    levels = len(t.channel_mult)
    return dict(
        image_size=32, in_channels=t.in_channels, out_channels=t.in_channels, model_channels=t.model_channels,
        num_res_blocks=[t.num_res_blocks] * levels, channel_mult=list(t.channel_mult),
        transformer_depth=[t.transformer_depth] * (t.num_res_blocks * levels),
        transformer_depth_middle=t.transformer_depth,
        transformer_depth_output=[t.transformer_depth] * ((t.num_res_blocks + 1) * levels),
        context_dim=t.context_dim, num_heads=t.num_heads, num_head_channels=-1, use_linear_in_transformer=True,
        use_spatial_transformer=True, legacy=False, adm_in_channels=None, use_temporal_attention=False,
        use_temporal_resblock=False, use_checkpoint=False)


def _gain(key: str) -> float:
    """Residual output layers get a small gain so the random UNet stays well-conditioned."""
    return 0.3 if (".out_layers." in key or "to_out" in key or ".proj_out" in key or key.startswith("out.")) else 1.0


def init_weights(module: torch.nn.Module, seed: int) -> None:
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if t.is_floating_point():
                t.copy_(seeded_tensor(name, tuple(t.shape), seed, _gain(name)))


def build_tiny(cfg: ModelConfig, *, seed: int = 0, comfyui: str | None = None) -> Base:
    """A tiny BaseModel on the CPU, fp32: the SD15- or SDXL-config UNet of `cfg.tiny_unet`, or the DiT of
    `cfg.tiny_dit.family` (training/tiny_dit.py); the family's own sigmas, objective and latent format."""
    import_comfy(comfyui or cfg.comfyui)
    model = _tiny_dit(cfg) if cfg.tiny_dit.family else _tiny_unet(cfg)
    unet = model.diffusion_model
    if cfg.tiny_weights:
        _load_tiny_weights(unet, Path(cfg.tiny_weights))
        source = str(cfg.tiny_weights)
    else:
        if cfg.tiny_dit.family:
            from .tiny_dit import init_dit
            init_dit(model, seed)
        else:
            init_weights(unet, seed)
        source = f"random(seed={seed})"
    model.eval().requires_grad_(False)
    return Base(model=model, family=family_of(model.model_config), kind="tiny", source=source)


def _tiny_unet(cfg: ModelConfig):
    import comfy.supported_models

    config_class = getattr(comfy.supported_models, family_spec(cfg.tiny_unet.family).comfy_class)
    mc = config_class(tiny_unet_config(cfg.tiny_unet))
    mc.unet_config.update(num_heads=cfg.tiny_unet.num_heads, num_head_channels=-1)  # the class's extra config
                                                                                   # would force 8 heads / 64 channels
    mc.set_inference_dtype(torch.float32, None)
    return mc.get_model({})


def _tiny_dit(cfg: ModelConfig):
    from .tiny_dit import CONFIGS, build_dit

    t = cfg.tiny_dit
    if t.family not in CONFIGS or not family_spec(t.family).trains:
        trained = [f for f in CONFIGS if family_spec(f).trains]
        raise ValueError(f"model.tiny_dit.family {t.family!r}: tiny DiTs train for {trained}")
    return build_dit(t.family, blocks=(t.double_blocks, t.single_blocks), init=False)


def _load_tiny_weights(net: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"model.tiny_weights: {path} does not exist")
    try:
        state = load_file(str(path))
    except Exception as e:   # safetensors' own error types
        raise CheckpointFileError(wrap_upstream(f"model.tiny_weights {path.name} is not a readable safetensors "
                                                "file: it is truncated or corrupt; make it again", e)) from e
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise UnsupportedModelError(
            f"model.tiny_weights {path.name} does not fit the tiny model (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}); use the model.tiny_unet / tiny_dit settings the weights were made with")


def static_weights_option(loader) -> dict:
    """{"disable_dynamic": True} where ComfyUI's loader function takes it (0.33+), else {}. The trainer moves the
    model itself (`base.model.to(device)`) and calls it directly, so it wants a plain ModelPatcher whose weights are
    copied into the modules, never dynamic VRAM's file-backed weights (`assign=True`) that a running ComfyUI server may
    turn on."""
    return {"disable_dynamic": True} if "disable_dynamic" in inspect.signature(loader).parameters else {}


def load_checkpoint(cfg: ModelConfig, *, clip: bool = False, vae: bool = False, dtype: torch.dtype | None = None) -> Base:
    """The user's checkpoint through ComfyUI's loader; raises a one-line error for other model families."""
    if not cfg.checkpoint:
        raise FileNotFoundError(f"model.checkpoint is not set: give the {supported_names(trainable=True)} checkpoint to "
                                "train on (--model.checkpoint PATH), or model.tiny=true for the tiny test model")
    path = Path(cfg.checkpoint).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model.checkpoint: {path} does not exist")
    import_comfy(cfg.comfyui)
    import comfy.sd

    from .checkpoint_layout import is_diffusion_model_only

    options = {"dtype": dtype} if dtype is not None else {}
    clip_obj = vae_obj = None
    try:
        if is_diffusion_model_only(path):       # Flux, Qwen-Image …: the diffusion_models/ file alone
            if clip or vae:
                raise UnsupportedModelError(
                    f"{path.name} holds the diffusion model alone (no text encoders, no VAE): load its encoders with "
                    "load_encoders (prepare does), which reads model.text_encoders and model.vae")
            patcher = comfy.sd.load_diffusion_model(str(path), model_options=options,
                                                    **static_weights_option(comfy.sd.load_diffusion_model))
        else:
            patcher, clip_obj, vae_obj, _ = comfy.sd.load_checkpoint_guess_config(
                str(path), output_vae=vae, output_clip=clip, model_options=options,
                **static_weights_option(comfy.sd.load_checkpoint_guess_config))
    except UnsupportedModelError:
        raise
    except Exception as e:   # safetensors, torch.load (unpickling) and ComfyUI's own detection errors
        if isinstance(e, RuntimeError) and "Could not detect model type" in str(e):
            raise UnsupportedModelError(f"{path.name} is not a diffusion checkpoint ComfyUI recognises; give an "
                                        f"{supported_names(trainable=True)} checkpoint in model.checkpoint") from None
        raise CheckpointFileError(wrap_upstream(
            f"could not read the checkpoint {path.name}: it is truncated, corrupt or not a checkpoint (a .ckpt that "
            "stores Python objects is refused as unsafe); download it again, or use its .safetensors version",
            e)) from e
    model = patcher.model
    family = family_of(model.model_config)
    objective, want = objective_of(model.model_sampling), family_spec(family).objective
    if objective != want:
        same = [spec.display_name for spec in REGISTRY.values() if spec.objective == want]
        raise UnsupportedModelError(
            f"{path.name} is a {OBJECTIVE_WORDS.get(objective, 'differently parameterised')} model; the trainer trains "
            f"{OBJECTIVE_WORDS[want]} {' and '.join(same)} checkpoints only: give one of those (e.g. the base model "
            "your fine-tune was made from)")
    model.eval().requires_grad_(False)
    return Base(model=model, family=family, kind="checkpoint", source=str(path), clip=clip_obj, vae=vae_obj)


def load_encoders(cfg: ModelConfig) -> Base:
    """The text encoder and VAE `prepare` encodes with, as a Base (model None): a whole checkpoint's own (through
    load_checkpoint), or, beside a diffusion-model-only file (Flux, Qwen-Image …), `model.text_encoders` read by
    ComfyUI's `load_clip` as the family's CLIPType and `model.vae`; the diffusion model itself is not loaded then."""
    path = Path(cfg.checkpoint).expanduser()
    if not cfg.checkpoint or not path.is_file():
        return load_checkpoint(cfg, clip=True, vae=True)      # its own error for a missing file
    import_comfy(cfg.comfyui)
    from .checkpoint_layout import checkpoint_family, is_diffusion_model_only

    if not is_diffusion_model_only(path):
        base = load_checkpoint(cfg, clip=True, vae=True)
        base.model = None     # only the VAE and the text encoder are needed; free the diffusion model
        return base
    import comfy.sd
    import comfy.utils

    family = checkpoint_family(path, cfg.comfyui or None)
    spec = family_spec(family)
    missing = [f"model.{k}" for k, v in (("text_encoders", cfg.text_encoders), ("vae", cfg.vae)) if not v]
    if missing or not spec.clip_type:
        raise UnsupportedModelError(
            f"{path.name} holds the {family_name(family)} diffusion model alone: prepare also needs "
            f"{' and '.join(missing) or 'encoders'}, the files ComfyUI's CLIPLoader (type "
            f"{spec.clip_type.lower() or '?'}) and VAELoader would load for it (Flux: clip_l.safetensors and "
            "t5xxl_fp16.safetensors, ae.safetensors)")
    for f in (*cfg.text_encoders, cfg.vae):
        if not Path(f).expanduser().is_file():
            raise FileNotFoundError(f"model.text_encoders / model.vae: {f} does not exist")
    try:
        clip = comfy.sd.load_clip(ckpt_paths=[str(Path(f).expanduser()) for f in cfg.text_encoders],
                                  clip_type=getattr(comfy.sd.CLIPType, spec.clip_type),
                                  **static_weights_option(comfy.sd.load_clip))
        vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(Path(cfg.vae).expanduser())))
    except Exception as e:    # ComfyUI's own detection and torch.load errors
        raise CheckpointFileError(wrap_upstream(
            f"could not load the text encoders {[Path(f).name for f in cfg.text_encoders]} / VAE {Path(cfg.vae).name} "
            f"as {family_name(family)}'s: give the files its ComfyUI workflow loads", e)) from e
    return Base(model=None, family=family, kind="checkpoint", source=str(path), clip=clip, vae=vae)


def unet_dtype(cfg: ModelConfig, mixed_precision: str, device: torch.device) -> torch.dtype:
    if cfg.unet_dtype != "auto":
        return DTYPES[cfg.unet_dtype]
    if device.type == "cuda" and mixed_precision in ("bf16", "fp16"):
        return DTYPES[mixed_precision]
    return torch.float32


def load_base(cfg: ModelConfig, *, seed: int = 0, dtype: torch.dtype | None = None) -> Base:
    """The base model the trainer runs (frozen, eval mode)."""
    if cfg.tiny:
        base = build_tiny(cfg, seed=seed)
        if dtype is not None and dtype != torch.float32:
            base.unet.to(dtype)
            base.unet.dtype = dtype  # what ComfyUI's BaseModel.get_dtype() reports
        return base
    return load_checkpoint(cfg, dtype=dtype)
