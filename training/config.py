"""The trainer's configuration: frozen dataclasses, read from TOML or YAML plus command-line overrides.

Every option is a dataclass field with a `help` text; the CLI turns each one into a `--section.key`
flag, so `--help` documents all of them. The resolved config is written to the run folder
(`config.toml`, readable back with `--config`) and into the exported adapter's metadata.

    cfg = load_config("train.toml", overrides=["train.lr=5e-5", "stage.joint.steps=100"])
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from c2d_core.config import PLACEMENTS, PROJECTORS, AdapterConfig
from c2d_core.errors import C2DError


class ConfigError(C2DError):
    """The configuration (file or override) is invalid."""


def opt(default, help: str, **kw):
    """A config field with its help text (shown by `--help`)."""
    if isinstance(default, (list, dict, tuple)) and not isinstance(default, tuple):
        return field(default_factory=lambda: default, metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


PARAM_GROUPS = ("projector", "attention", "gates", "null_tokens", "lora")
DEFAULT_LORA_TARGETS = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
                        "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0")


@dataclass(frozen=True)
class TinyUNetConfig:
    model_channels: int = opt(32, "base channel width of the tiny UNet")
    channel_mult: tuple[int, ...] = opt((1, 2), "channel multiplier per resolution level")
    num_res_blocks: int = opt(1, "res blocks per level")
    num_heads: int = opt(2, "attention heads per transformer block")
    context_dim: int = opt(32, "text context width (SD1.5: 768, SDXL: 2048)")
    in_channels: int = opt(4, "latent channels")
    transformer_depth: int = opt(1, "transformer blocks per attention layer (sd15 family only)")
    family: str = opt("sd15", "block structure: sd15 (channel_mult, num_res_blocks and transformer_depth above) or sdxl "
                              "(SDXL's own structure at model_channels width: 3 levels, 2 res blocks, transformer depth "
                              "0/2/10, middle 10, 70 blocks, ADM conditioning 2816; context_dim as set, 2048 like SDXL)")


@dataclass(frozen=True)
class TinyDiTConfig:
    family: str = opt("", "train on a tiny DiT of this family instead of the tiny UNet (flux, chroma, sd3, qwen_image, "
                          "z_image): ComfyUI's own model at 64 wide, 4 heads, 32-wide text tokens (training/tiny_dit.py)")
    double_blocks: int = opt(2, "double-stream (joint) blocks of the tiny DiT")
    single_blocks: int = opt(2, "single-stream blocks (Flux, Chroma only)")


@dataclass(frozen=True)
class ModelConfig:
    checkpoint: str = opt("", "the checkpoint to train on (.safetensors/.ckpt): SD1.5 / SDXL (eps-prediction) or a "
                              "flow-matching DiT (Flux.1, Chroma, SD3.5, Qwen-Image, Z-Image; a diffusion-model-only "
                              "file too), loaded with ComfyUI's own loaders "
                              "(needed by prepare; by train unless model.tiny)")
    text_encoders: tuple[str, ...] = opt((), "prepare, for a diffusion-model-only checkpoint (Flux, Qwen-Image …): the "
                                             "text encoder files CLIPLoader / DualCLIPLoader would load for it (Flux: "
                                             "clip_l and t5xxl), read as the family's ComfyUI CLIPType")
    vae: str = opt("", "prepare, for a diffusion-model-only checkpoint: the VAE file (ComfyUI's models/vae)")
    comfyui: str = opt("", "ComfyUI folder (default: $COMFYUI_PATH, the custom_nodes/ parent, /opt/ComfyUI, ~/ComfyUI)")
    tiny: bool = opt(False, "train on a tiny UNet built from model.tiny_unet instead of a checkpoint (tests, benchmarks)")
    tiny_weights: str = opt("", "weights of the tiny UNet (.safetensors of its state dict); empty: seeded random init")
    tiny_unet: TinyUNetConfig = opt(TinyUNetConfig(), "tiny UNet shape")
    tiny_dit: TinyDiTConfig = opt(TinyDiTConfig(), "tiny DiT (used instead of tiny_unet when its family is set)")
    unet_dtype: str = opt("auto", "dtype of the frozen UNet weights: auto (bf16 with mixed_precision=bf16 on a GPU, "
                                  "else fp32), fp32, bf16, fp16; trainable weights stay fp32")
    gradient_checkpointing: bool = opt(False, "recompute UNet activations in the backward pass (less memory, slower steps)")


# The adapter's shape options are the core AdapterConfig's own fields (type and default taken from it, so the two
# never drift); the trainer adds only its help texts and two options of its own (init, seed).
ADAPTER_SHAPE_HELP = {
    "clap_dim": "audio embedding width (512: LAION CLAP; 1024: Microsoft CLAP, ImageBind; must match prepare's encoder)",
    "n_tokens": "audio tokens per clip",
    "n_mlps": "parallel projector MLPs (each makes n_tokens / n_mlps tokens; 1 = ablation)",
    "hidden_dim": "hidden width of each projector MLP",
    "gate_init": "initial gate α of every block (0: training starts from the exact base model)",
    "placement": f"blocks that get audio attention: one of {list(PLACEMENTS)} or comma-separated keys",
    "projector": "projector kind: mlp4 (n_mlps parallel MLPs, before text attention, learned null tokens) or sonic77 "
                 "(SonicDiffusion's 77-token conv projector, after text attention, projector(0) for CFG; needs 1024-d "
                 "MS-CLAP embeddings, SD1.x; n_tokens/n_mlps/hidden_dim unused; SonicDiffusion trains with "
                 "placement=sonic_mid_up, gate_init=0.1)",
    "clap_model_id": "CLAP model id stored in the adapter (default: the name of clap.model's folder)",
}


def _adapter_options():
    core = {f.name: f for f in dataclasses.fields(AdapterConfig)}
    shape = [(name, core[name].type, opt(core[name].default, help)) for name, help in ADAPTER_SHAPE_HELP.items()]
    own = [("init", "str", opt("", "start from this adapter file (e.g. from `init`, an earlier run or "
                                   "`convert-sonicdiffusion`; or a folder with SonicDiffusion's released projector .pth "
                                   "+ adapter .pt) instead of a fresh one")),
           ("seed", "int", opt(0, "seed of the adapter's initial weights"))]
    cls = dataclasses.make_dataclass("AdapterOptions", shape + own, frozen=True)
    cls.__module__ = __name__   # its string annotations resolve here
    cls.__doc__ = "adapter options: c2d_core.config.AdapterConfig's shape fields + init, seed"
    return cls


AdapterOptions = _adapter_options()


@dataclass(frozen=True)
class ClapOptions:
    model: str = opt("", "audio encoder used by prepare, any file Load CLAP Model reads: a CLAP folder (transformers "
                         "ClapModel), a LAION-CLAP or Microsoft CLAP checkpoint, or ImageBind's imagebind_huge.pth")


@dataclass(frozen=True)
class DataConfig:
    source: str = opt("", "a folder of (audio, image) pairs matched by file stem (videos give both), or a .csv/.jsonl "
                          "manifest with columns audio, image, caption (optional), label (optional)")
    cache: str = opt("", "where prepare stores the embeddings (default: <train.run_dir>/cache)")
    resolution: int = opt(512, "images are resized (short side) and centre-cropped to this size before VAE encoding")
    shard_size: int = opt(256, "samples per cache shard")
    val_fraction: float = opt(0.05, "fraction of samples held out for validation (chosen by a hash of the sample id)")
    val_max: int = opt(64, "at most this many validation samples")
    default_caption: str = opt("", "caption of samples without one")
    max_audio_seconds: float = opt(10.0, "longer clips are cut to their first max_audio_seconds")
    video_frame: float = opt(0.5, "which video frame is the image, as a fraction of the video's duration")
    video_frames: int = opt(0, "video families (Wan): encode the first video_frames frames of each video (4n+1) at "
                               "data.fps as one video latent, with one audio embedding per frame (the Audio "
                               "Timeline's); 0: one image per sample")
    fps: float = opt(16.0, "frame rate the videos are read at and the per-frame audio follows (Wan 2.1: 16)")
    audio_window: float = opt(1.0, "seconds of audio around each video frame for its embedding (as the Audio "
                                   "Timeline's window_seconds)")
    encode_batch: int = opt(8, "samples encoded together by prepare")


@dataclass(frozen=True)
class LoraConfig:
    rank: int = opt(4, "LoRA rank of stage 2's UNet LoRA")
    alpha: float = opt(4.0, "LoRA alpha (scale = alpha / rank)")
    targets: tuple[str, ...] = opt(DEFAULT_LORA_TARGETS, "linear layers (module path suffixes) that get a LoRA; this "
                                                          "UNet default means each DiT family's own on DiTs (Flux: "
                                                          "img/txt attention, single-block linears)")


@dataclass(frozen=True)
class StageConfig:
    steps: int = opt(1000, "optimizer steps of this stage")
    train: tuple[str, ...] = opt(("projector", "attention", "gates", "null_tokens"),
                                 f"parameter groups this stage trains: any of {list(PARAM_GROUPS)}")
    lr_mult: float = opt(1.0, "learning rate = train.lr × lr_mult")
    gate_lr_mult: float = opt(1.0, "gate learning rate = stage learning rate × gate_lr_mult (the gate multiplier)")
    early_stopping: bool = opt(False, "stop the stage when the validation loss stops improving; keep the best weights")
    eval_every: int = opt(100, "validation interval (steps) for early stopping")
    patience: int = opt(4, "evaluations without improvement before stopping")
    min_delta: float = opt(0.0, "improvement smaller than this does not count")


def default_stages() -> dict[str, StageConfig]:
    """The seeds' three stages: 1) audio modules from gate 0, 2) + UNet LoRA with slower gates, 3) gates only."""
    audio = ("projector", "attention", "gates", "null_tokens")
    return {
        "align": StageConfig(steps=3000, train=audio),
        "joint": StageConfig(steps=7000, train=audio + ("lora",), lr_mult=1.0, gate_lr_mult=0.1),
        "gates": StageConfig(steps=2000, train=("gates",), early_stopping=True, eval_every=100, patience=4),
    }


@dataclass(frozen=True)
class TrainOptions:
    run_dir: str = opt("runs/c2d", "run folder: config, logs, loss curve, checkpoints, exported adapter")
    stages: tuple[str, ...] = opt(("align", "joint", "gates"), "stages to run, in order (names of [stage.*] tables)")
    seed: int = opt(0, "seed of data order, noise, timesteps and dropout (a run is a function of it)")
    batch_size: int = opt(4, "samples per device per micro-batch")
    grad_accum: int = opt(1, "micro-batches accumulated per optimizer step")
    mixed_precision: str = opt("no", "no, bf16 or fp16 (autocast through accelerate)")
    max_grad_norm: float = opt(1.0, "gradient clipping norm (0: off)")
    lr: float = opt(1e-4, "base learning rate (each stage scales it with its lr_mult)")
    weight_decay: float = opt(0.01, "AdamW weight decay (never on gates and null tokens)")
    warmup_steps: int = opt(100, "linear learning-rate warm-up at the start of each stage")
    schedule: str = opt("cosine", "learning-rate schedule after warm-up: cosine, linear or constant")
    min_lr_ratio: float = opt(0.1, "cosine/linear schedules end at lr × min_lr_ratio")
    snr_gamma: float = opt(0.0, "min-SNR-γ loss weighting (e.g. 5; 0: plain ε-MSE, SD's own objective)")
    audio_dropout: float = opt(0.1, "probability that a sample's audio is replaced by the learned null tokens (CFG)")
    text_dropout: float = opt(0.1, "probability that a sample's caption is replaced by the empty caption (CFG)")
    checkpoint_every: int = opt(500, "steps between resumable checkpoints (also saved at stage ends and on Ctrl-C)")
    keep_checkpoints: int = opt(3, "resumable checkpoints kept (older ones are deleted)")
    log_every: int = opt(10, "steps between log rows (CSV, TensorBoard, progress bar)")
    val_every: int = opt(0, "steps between validation losses in the log outside early stopping (0: off)")
    tensorboard: bool = opt(True, "also write TensorBoard logs when tensorboard is installed")
    progress: bool = opt(True, "show a progress bar (main process only)")


@dataclass(frozen=True)
class EvalOptions:
    clip: str = opt("", "CLIP model folder (transformers format, e.g. openai/clip-vit-base-patch32 saved with "
                        "save_pretrained) for AIS, IIS and AIC; empty: those are skipped")
    wav2clip: str = opt("", "Wav2CLIP checkpoint (Wav2CLIP.pt of the wav2clip release) for AIS; empty: skipped")
    fid_weights: str = opt("", "FID Inception weights (torch-fidelity's pt_inception-2015-12-05-6726825d.pth) for FID; "
                               "empty: skipped")
    imagebind: str = opt("", "ImageBind's imagebind_huge.pth for the independent judge AIS_imagebind (with "
                             "eval.clip_vision); empty: skipped")
    clip_vision: str = opt("", "CLIP ViT-H/14 vision file (CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors, as in "
                               "ComfyUI's models/clip_vision) for AIS_imagebind")
    class_prompt: str = opt("a photo of {label}", "AIC: the CLIP prompt of each class label")
    max_samples: int = opt(256, "validation samples scored (each one is generated)")
    sample_steps: int = opt(25, "Euler steps per generated image")
    cfg_scale: float = opt(3.0, "classifier-free guidance scale of the generated images")
    guidance: str = opt("text+audio", "text+audio: uncond rows get the empty caption and the null audio tokens (one "
                                      "scale, as KSampler with an empty negative prompt); audio: uncond rows keep "
                                      "the caption")
    seed: int = opt(0, "seed of the sampling noise")


@dataclass(frozen=True)
class Config:
    model: ModelConfig = opt(ModelConfig(), "base model")
    adapter: AdapterOptions = opt(AdapterOptions(), "adapter shape")
    clap: ClapOptions = opt(ClapOptions(), "CLAP encoder")
    data: DataConfig = opt(DataConfig(), "data and cache")
    lora: LoraConfig = opt(LoraConfig(), "stage-2 LoRA")
    train: TrainOptions = opt(TrainOptions(), "optimisation and run")
    eval: EvalOptions = opt(EvalOptions(), "evaluate: metrics and their feature networks")
    stage: dict = opt({}, "stage definitions (defaults: align, joint, gates)")

    def stage_list(self) -> list[tuple[str, StageConfig]]:
        return [(name, self.stage[name]) for name in self.train.stages]

    @property
    def cache_dir(self) -> Path:
        return Path(self.data.cache) if self.data.cache else Path(self.train.run_dir) / "cache"

    def to_dict(self) -> dict:
        return to_plain(self)


def to_plain(obj):
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj



def validate(cfg: Config) -> None:
    t = cfg.train
    for name in t.stages:
        if name not in cfg.stage:
            raise ConfigError(f"train.stages names stage {name!r}, which is not defined; defined: "
                              f"{', '.join(sorted(cfg.stage))} (add a [stage.{name}] table)")
    if not t.stages:
        raise ConfigError("train.stages is empty: name at least one stage (align, joint, gates)")
    for name, st in cfg.stage.items():
        bad = [g for g in st.train if g not in PARAM_GROUPS]
        if bad or not st.train:
            raise ConfigError(f"stage.{name}.train: unknown parameter group(s) {bad}; use {list(PARAM_GROUPS)}")
        if st.steps < 0 or st.lr_mult < 0 or st.gate_lr_mult < 0:
            raise ConfigError(f"stage.{name}: steps, lr_mult and gate_lr_mult must be ≥ 0")
        if st.early_stopping and (st.eval_every <= 0 or st.patience <= 0):
            raise ConfigError(f"stage.{name}: early stopping needs eval_every > 0 and patience > 0")
    checks = [
        (t.batch_size >= 1, "train.batch_size must be ≥ 1"),
        (t.grad_accum >= 1, "train.grad_accum must be ≥ 1"),
        (t.lr > 0, "train.lr must be > 0"),
        (t.mixed_precision in ("no", "bf16", "fp16"), f"train.mixed_precision must be no, bf16 or fp16, "
                                                      f"got {t.mixed_precision!r}"),
        (t.schedule in ("cosine", "linear", "constant"), f"train.schedule must be cosine, linear or constant, "
                                                        f"got {t.schedule!r}"),
        (0 <= t.audio_dropout < 1 and 0 <= t.text_dropout < 1, "train.audio_dropout/text_dropout must be in [0, 1)"),
        (t.checkpoint_every >= 1 and t.keep_checkpoints >= 1, "train.checkpoint_every and keep_checkpoints must be ≥ 1"),
        (t.log_every >= 1, "train.log_every must be ≥ 1"),
        (0 <= cfg.data.val_fraction < 1, "data.val_fraction must be in [0, 1)"),
        (cfg.lora.rank >= 1, "lora.rank must be ≥ 1"),
        (cfg.model.unet_dtype in ("auto", "fp32", "bf16", "fp16"), f"model.unet_dtype must be auto, fp32, bf16 or "
                                                                   f"fp16, got {cfg.model.unet_dtype!r}"),
        (cfg.adapter.projector in PROJECTORS, f"adapter.projector must be one of {list(PROJECTORS)}, got "
                                              f"{cfg.adapter.projector!r}"),
        (cfg.adapter.projector != "mlp4" or cfg.adapter.n_tokens % cfg.adapter.n_mlps == 0, f"adapter.n_tokens ({cfg.adapter.n_tokens}) must be "
                                                         f"divisible by adapter.n_mlps ({cfg.adapter.n_mlps})"),
        (cfg.data.resolution % 8 == 0 and cfg.data.resolution > 0, "data.resolution must be a positive multiple of 8"),
        (cfg.eval.guidance in ("text+audio", "audio"), f"eval.guidance must be text+audio or audio, got "
                                                       f"{cfg.eval.guidance!r}"),
        (cfg.eval.max_samples >= 2 and cfg.eval.sample_steps >= 1, "eval.max_samples must be ≥ 2 and "
                                                                   "eval.sample_steps ≥ 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


# ---- writing ------------------------------------------------------------------------------------
