"""The trainer's configuration: frozen dataclasses, read from TOML or YAML plus command-line overrides.

Every option is a dataclass field with a `help` text; the CLI turns each one into a `--section.key`
flag, so `--help` documents all of them. The resolved config is written to the run folder
(`config.toml`, readable back with `--config`) and into the exported adapter's metadata.

    cfg = load_config("train.toml", overrides=["train.lr=5e-5", "stage.joint.steps=100"])
"""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

from c2d_core.config import PLACEMENTS, PROJECTORS
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
    context_dim: int = opt(32, "text context width (SD1.5: 768)")
    in_channels: int = opt(4, "latent channels")
    transformer_depth: int = opt(1, "transformer blocks per attention layer")


@dataclass(frozen=True)
class ModelConfig:
    checkpoint: str = opt("", "the SD1.5 checkpoint (.safetensors/.ckpt) to train on, loaded with ComfyUI's own loader "
                              "(needed by prepare; by train unless model.tiny)")
    comfyui: str = opt("", "ComfyUI folder (default: $COMFYUI_PATH, the custom_nodes/ parent, /opt/ComfyUI, ~/ComfyUI)")
    tiny: bool = opt(False, "train on a tiny UNet built from model.tiny_unet instead of a checkpoint (tests, benchmarks)")
    tiny_weights: str = opt("", "weights of the tiny UNet (.safetensors of its state dict); empty: seeded random init")
    tiny_unet: TinyUNetConfig = opt(TinyUNetConfig(), "tiny UNet shape")
    unet_dtype: str = opt("auto", "dtype of the frozen UNet weights: auto (bf16 with mixed_precision=bf16 on a GPU, "
                                  "else fp32), fp32, bf16, fp16; trainable weights stay fp32")
    gradient_checkpointing: bool = opt(False, "recompute UNet activations in the backward pass (less memory, slower steps)")


@dataclass(frozen=True)
class AdapterOptions:
    clap_dim: int = opt(512, "CLAP embedding width (512: LAION CLAP; must match the CLAP model of prepare)")
    n_tokens: int = opt(8, "audio tokens per clip")
    n_mlps: int = opt(4, "parallel projector MLPs (each makes n_tokens / n_mlps tokens; 1 = ablation)")
    hidden_dim: int = opt(1024, "hidden width of each projector MLP")
    gate_init: float = opt(0.0, "initial gate α of every block (0: training starts from the exact base model)")
    placement: str = opt("all", f"blocks that get audio attention: one of {list(PLACEMENTS)} or comma-separated keys")
    projector: str = opt("mlp4", "projector kind: mlp4 (n_mlps parallel MLPs, before text attention, learned null tokens) "
                                 "or sonic77 (SonicDiffusion's 77-token conv projector, after text attention, projector(0) "
                                 "for CFG; needs 1024-d MS-CLAP embeddings, SD1.x; n_tokens/n_mlps/hidden_dim unused; "
                                 "SonicDiffusion trains with placement=sonic_mid_up, gate_init=0.1)")
    clap_model_id: str = opt("", "CLAP model id stored in the adapter (default: the name of clap.model's folder)")
    init: str = opt("", "start from this adapter file (e.g. from `init`, an earlier run or `convert-sonicdiffusion`; or a "
                        "folder with SonicDiffusion's released projector .pth + adapter .pt) instead of a fresh one")
    seed: int = opt(0, "seed of the adapter's initial weights")


@dataclass(frozen=True)
class ClapOptions:
    model: str = opt("", "CLAP model folder (transformers ClapModel) or LAION-CLAP checkpoint used by prepare")


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
    encode_batch: int = opt(8, "samples encoded together by prepare")


@dataclass(frozen=True)
class LoraConfig:
    rank: int = opt(4, "LoRA rank of stage 2's UNet LoRA")
    alpha: float = opt(4.0, "LoRA alpha (scale = alpha / rank)")
    targets: tuple[str, ...] = opt(DEFAULT_LORA_TARGETS, "UNet linear layers (suffixes within each transformer block) "
                                                          "that get a LoRA")


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
        return _to_plain(self)


# ---- reading ------------------------------------------------------------------------------------
def _to_plain(obj):
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    return obj


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _is_dc(tp) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _convert(value, tp, where: str):
    """Coerce a TOML/YAML/command-line value to the field type `tp`, or raise ConfigError."""
    origin = typing.get_origin(tp)
    try:
        if origin is tuple:
            item = typing.get_args(tp)[0]
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"expected a list, got {value!r}")
            return tuple(_convert(v, item, where) for v in value)
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return value.lower() in ("1", "true", "yes", "on")
            raise TypeError(f"expected true or false, got {value!r}")
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError(f"expected an integer, got {value!r}")
            return int(value)
        if tp is float:
            if isinstance(value, bool):
                raise TypeError(f"expected a number, got {value!r}")
            out = float(value)
            if not math.isfinite(out):
                raise TypeError(f"expected a finite number, got {value!r}")
            return out
        if tp is str:
            if isinstance(value, (dict, list)):
                raise TypeError(f"expected a string, got {value!r}")
            return str(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"config {where}: {e}") from None
    raise ConfigError(f"config {where}: unsupported type {tp}")


def _build(cls, raw: dict, where: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"config {where or 'file'}: expected a table, got {raw!r}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"unknown config key {prefix}{unknown[0]}; known keys in "
                          f"[{where or 'top level'}]: {', '.join(sorted(names))}")
    kwargs = {}
    for name, value in raw.items():
        tp = hints[name]
        sub = f"{where}.{name}" if where else name
        if _is_dc(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"config {sub}: expected a table ([{sub}]), got {value!r}")
            kwargs[name] = _build(tp, _merge(_to_plain(getattr(cls(), name)), value), sub)
        else:
            kwargs[name] = _convert(value, tp, sub)
    return cls(**kwargs)


def _merge(dst: dict, src: dict) -> dict:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v
    return dst


def read_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            import tomllib
            return tomllib.loads(text)
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml
            data = yaml.safe_load(text) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: the top level must be a mapping")
            return data
        if path.suffix.lower() == ".json":
            return json.loads(text)
    except ConfigError:
        raise
    except Exception as e:  # tomllib/yaml/json each raise their own error types
        raise ConfigError(f"{path} is not valid {path.suffix[1:].upper()}: {e}") from None
    raise ConfigError(f"{path}: config files are .toml, .yaml/.yml or .json")


def _field_type(dotted: str):
    """The declared type of `section.key` (or `stage.<name>.key`), or ConfigError naming the bad part."""
    parts = dotted.split(".")
    cls = Config
    for i, part in enumerate(parts):
        if cls is Config and part == "stage" and i == 0:
            if len(parts) != 3:
                raise ConfigError(f"override {dotted}: stage options are stage.<name>.<key>, e.g. stage.joint.steps")
            return _field_type_in(StageConfig, parts[2:], dotted)
        hints = _hints(cls)
        if part not in hints:
            raise ConfigError(f"unknown config key {'.'.join(parts[:i + 1])}; known keys: "
                              f"{', '.join(sorted(hints))}")
        tp = hints[part]
        if i == len(parts) - 1:
            if _is_dc(tp):
                raise ConfigError(f"override {dotted}: {dotted} is a table; set one of its keys")
            return tp
        if not _is_dc(tp):
            raise ConfigError(f"override {dotted}: {'.'.join(parts[:i + 1])} is not a table")
        cls = tp
    raise ConfigError(f"override {dotted!r} is empty")


def _field_type_in(cls, parts, dotted):
    hints = _hints(cls)
    if len(parts) != 1 or parts[0] not in hints:
        raise ConfigError(f"unknown config key {dotted}; stage keys: {', '.join(sorted(hints))}")
    return hints[parts[0]]


def parse_override(text: str) -> tuple[str, object]:
    """"train.lr=5e-5" → ("train.lr", 5e-05) converted to the field's type."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, value = text.split("=", 1)
    key = key.strip()
    tp = _field_type(key)
    return key, _convert(value.strip(), tp, key)


def load_config(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> Config:
    """Defaults ← config file ← overrides ("a.b=value" strings or {dotted: value}). Validated."""
    raw: dict = read_file(path) if path else {}
    if isinstance(overrides, dict):
        items = [(k, _convert(v, _field_type(k), k)) for k, v in overrides.items()]
    else:
        items = [parse_override(o) for o in overrides or []]
    for key, value in items:
        node = raw
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key}: {p} is not a table in the config file")
        node[parts[-1]] = value
    stages_raw = raw.pop("stage", {}) or {}
    if not isinstance(stages_raw, dict):
        raise ConfigError("config [stage] must be a table of stage tables ([stage.align], [stage.joint], ...)")
    cfg = _build(Config, raw, "")
    stages = {k: v for k, v in default_stages().items()}
    for name, table in stages_raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"config stage.{name}: expected a table ([stage.{name}]), got {table!r}")
        base = _to_plain(stages.get(name, StageConfig()))
        stages[name] = _build(StageConfig, _merge(base, table), f"stage.{name}")
    cfg = dataclasses.replace(cfg, stage=stages)
    validate(cfg)
    return cfg


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
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} to TOML")


def to_toml(cfg: Config) -> str:
    """The resolved config as TOML (every key, defaults included); `load_config` reads it back."""
    lines = ["# resolved CLAP2Diffusion training config (every option; read back with --config)"]

    def table(name: str, d: dict):
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        lines.append(f"\n[{name}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{name}.{k}", v)

    plain = cfg.to_dict()
    for section, d in plain.items():
        if section == "stage":
            for name, st in d.items():
                table(f"stage.{name}", st)
        else:
            table(section, d)
    return "\n".join(lines) + "\n"


def iter_options(cls=Config, prefix: str = ""):
    """(dotted key, type, default, help) of every scalar option, for the CLI's flags and docs."""
    hints = _hints(cls)
    inst = cls()
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        key = f"{prefix}{f.name}"
        if f.name == "stage" and cls is Config:
            for name, st in default_stages().items():
                for k, t2, d2, h2 in iter_options(StageConfig, f"stage.{name}."):
                    yield k, t2, getattr(st, k.rsplit(".", 1)[1]), h2
            continue
        if _is_dc(tp):
            yield from iter_options(tp, key + ".")
        else:
            yield key, tp, getattr(inst, f.name), f.metadata.get("help", "")
