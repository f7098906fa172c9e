"""What a resumed run may change: options that do not change what is computed, and options added since it was saved."""
from __future__ import annotations

from .config import Config, ConfigError

# Options that may differ between a run and its resumption (they do not change what is computed).
RESUMABLE_CHANGES = ("train.checkpoint_every", "train.keep_checkpoints", "train.log_every", "train.progress",
                     "train.tensorboard", "train.val_every", "model.gradient_checkpointing", "model.comfyui")


def _config_changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        key = f"{prefix}{k}"
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config_changes(a, b, key + ".")
        elif a != b:
            out.append(key)
    return out


# options added after runs were saved: a run saved without one resumes when the option is at its default
ADDED_OPTIONS = {"adapter.projector": "mlp4"}


def _saved_has(saved: dict, key: str) -> bool:
    node = saved
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def check_resume_config(saved: dict, cfg: Config) -> None:
    new = cfg.to_dict()
    changed = [k for k in _config_changes(saved, new)
               if not (k in ADDED_OPTIONS and not _saved_has(saved, k) and _saved_has(new, k)
                       and new[k.split(".")[0]][k.split(".")[1]] == ADDED_OPTIONS[k])
               and k not in RESUMABLE_CHANGES and not k.startswith("eval.")
               and not (k.startswith("stage.") and k.endswith((".steps", ".patience")))]
    if changed:
        raise ConfigError(f"--resume: the config differs from the checkpoint's in {', '.join(changed)}; resume with "
                          "the run's own config (<run_dir>/config.toml) or start a new train.run_dir")
