"""Reading and writing the trainer's configuration: TOML / YAML files, `section.key=value` overrides, the
`config.toml` a run writes, and the option list the CLI turns into flags. The schema is training/config.py."""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from pathlib import Path

from .config import Config, ConfigError, StageConfig, default_stages, to_plain, validate

# ---- reading ------------------------------------------------------------------------------------
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
            kwargs[name] = _build(tp, _merge(to_plain(getattr(cls(), name)), value), sub)
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
        base = to_plain(stages.get(name, StageConfig()))
        stages[name] = _build(StageConfig, _merge(base, table), f"stage.{name}")
    cfg = dataclasses.replace(cfg, stage=stages)
    validate(cfg)
    return cfg


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
