"""CLAP text encoder: the "sound prompt" ("thunderstorm", "crackling fire") in CLAP's embedding space.

CLAP was trained so that a sound and its description land close together; its text tower (RoBERTa +
projection, transformers' `ClapTextModelWithProjection`) therefore gives embeddings that the audio
adapter accepts like those of a recording: same width, L2-normalised.

Loaded from the same local files as the audio encoder, only when a text prompt is first encoded:
  - a Hugging Face CLAP folder: its text tower and its tokenizer files (tokenizer.json, or vocab.json
    + merges.txt, as in laion/clap-htsat-unfused);
  - a LAION-CLAP `.pt`: its `text_branch` (converted by `laion_text_convert`) plus RoBERTa's
    tokenizer files, which a `.pt` does not hold, from a folder `roberta-base/` next to the checkpoint
    (the tokenizer laion-clap itself uses).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from ..errors import ClapModelError, wrap_upstream
from .prompts import clean_prompts

log = logging.getLogger(__name__)

LAION_TOKENIZER_FOLDER = "roberta-base"
MAX_TOKENS = 77  # laion-clap tokenizes text to 77 tokens (<s> … </s>)


def _has_tokenizer_files(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or \
        ((folder / "vocab.json").is_file() and (folder / "merges.txt").is_file())


def split_prompt_lines(text: str) -> list[str]:
    """One prompt per non-empty line (surrounding spaces removed)."""
    return [line.strip() for line in str(text).splitlines() if line.strip()]


class ClapTextEncoder:
    """CLAP text tower + projection; `encode` gives (N, D) unit embeddings, D = `embed_dim`."""

    def __init__(self, model, tokenizer, model_id: str, device=None, dtype=None):
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype or torch.float32
        self.model.to(device=self.device, dtype=self.dtype)
        # RoBERTa positions start after the pad id: at most max_position_embeddings - 2 tokens
        self.max_tokens = min(MAX_TOKENS, int(model.config.max_position_embeddings) - 2)

    @property
    def embed_dim(self) -> int:
        return int(self.model.config.projection_dim)

    def __repr__(self):
        return f"ClapTextEncoder({self.model_id!r}, dim={self.embed_dim}, device={self.device})"

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_hf_folder(cls, path, model_id: str | None = None, device=None, dtype=None) -> "ClapTextEncoder":
        from .hf import quiet_transformers, transformers_module
        tf, path = transformers_module(), Path(path)
        try:
            raw = json.loads((path / "config.json").read_text())
        except (OSError, ValueError) as e:
            raise ClapModelError(wrap_upstream(f"{path.name}/config.json cannot be read; copy the CLAP folder again",
                                               e)) from e
        if raw.get("model_type") != "clap" or not isinstance(raw.get("text_config"), dict):
            raise ClapModelError(f"{path.name} holds no CLAP text branch (config model_type "
                                 f"{raw.get('model_type')!r}, no text_config), so it cannot encode sound prompts; "
                                 "use a full CLAP folder such as laion/clap-htsat-unfused")
        if not _has_tokenizer_files(path):
            raise ClapModelError(f"{path.name} has no tokenizer files (tokenizer.json, or vocab.json + merges.txt), "
                                 "which sound prompts need: copy them (with tokenizer_config.json) from the same "
                                 "Hugging Face repo, e.g. laion/clap-htsat-unfused, into the folder")
        try:
            tokenizer = tf.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except Exception as e:
            raise ClapModelError(wrap_upstream(f"could not load the tokenizer in {path.name}: copy the tokenizer files "
                                               "of the same Hugging Face repo into the folder again", e)) from e
        try:
            config = tf.ClapTextConfig.from_pretrained(str(path), local_files_only=True)
            with quiet_transformers(tf):  # the audio tower's keys are "unexpected" here, by design
                model, info = tf.ClapTextModelWithProjection.from_pretrained(
                    str(path), config=config, local_files_only=True, output_loading_info=True)
        except Exception as e:
            raise ClapModelError(wrap_upstream(f"could not load the CLAP text weights in {path.name}: the folder is "
                                               "incomplete or corrupt; copy it again", e)) from e
        missing = [k for k in info.get("missing_keys", ()) if not k.endswith(("position_ids", "token_type_ids"))]
        if missing:
            raise ClapModelError(f"{path.name} has no trained CLAP text weights ({len(missing)} missing, e.g. "
                                 f"{sorted(missing)[:3]}), so it cannot encode sound prompts; use a full CLAP "
                                 "folder such as laion/clap-htsat-unfused")
        return cls(model, tokenizer, model_id=model_id or path.name, device=device, dtype=dtype)

    @classmethod
    def from_laion_checkpoint(cls, path, model_id: str | None = None, projection_dim: int | None = None,
                              device=None, dtype=None) -> "ClapTextEncoder":
        from .hf import read_state_dict, transformers_module
        from .laion_text_convert import convert_laion_text_state_dict
        tf, path = transformers_module(), Path(path)
        tok_dir = path.parent / LAION_TOKENIZER_FOLDER
        if not _has_tokenizer_files(tok_dir):
            raise ClapModelError(
                f"{path.name} is a LAION-CLAP checkpoint, which holds no tokenizer: put RoBERTa's tokenizer files "
                f"(vocab.json and merges.txt of roberta-base, the same as in laion/clap-htsat-unfused) into "
                f"{tok_dir}, or use the Hugging Face CLAP folder for sound prompts")
        config, hf_state = convert_laion_text_state_dict(read_state_dict(path), projection_dim)
        model = tf.ClapTextModelWithProjection(config)
        missing, unexpected = model.load_state_dict(hf_state, strict=False)
        missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
        if missing or unexpected:  # convert_laion_text_state_dict checked this already
            raise ClapModelError(f"{path.name}: converted LAION-CLAP text weights do not fit ({missing[:3]}, "
                                 f"{unexpected[:3]}); use the Hugging Face folder of this model instead")
        try:
            tokenizer = tf.RobertaTokenizerFast.from_pretrained(str(tok_dir), local_files_only=True)
        except Exception as e:
            raise ClapModelError(wrap_upstream(f"could not load RoBERTa's tokenizer from {tok_dir}: copy vocab.json "
                                               "and merges.txt of roberta-base there again", e)) from e
        return cls(model, tokenizer, model_id=model_id or path.stem, device=device, dtype=dtype)

    # --------------------------------------------------------------- encoding
    @torch.no_grad()
    def encode(self, prompts: list[str], batch_size: int = 32) -> torch.Tensor:
        """prompts: N non-empty strings. Returns float32 on CPU, L2-normalised: (N, D).

        Each prompt is tokenized to at most `max_tokens` (77, as laion-clap); longer ones are cut, with a warning.
        """
        prompts = clean_prompts(prompts)
        embeds = []
        for i in range(0, len(prompts), batch_size):
            chunk = prompts[i:i + batch_size]
            tokens = self.tokenizer(chunk, padding=True, truncation=True, max_length=self.max_tokens,
                                    return_tensors="pt")
            full = self.tokenizer(chunk, truncation=False)["input_ids"]
            for p, ids in zip(chunk, full):
                if len(ids) > self.max_tokens:
                    log.warning("sound prompt cut to %d of its %d tokens: %r", self.max_tokens, len(ids), p[:60])
            out = self.model(input_ids=tokens["input_ids"].to(self.device),
                             attention_mask=tokens["attention_mask"].to(self.device))
            embeds.append(out.text_embeds.float().cpu())
        return torch.nn.functional.normalize(torch.cat(embeds), dim=-1)  # (N, D)
