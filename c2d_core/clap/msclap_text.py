"""Microsoft CLAP text towers (sound prompts): 2022 BERT, 2023 GPT-2 (transformers models) + projection.

msclap's `TextEncoder` (`msclap/models/clap.py`): 2022, bert-base-uncased, the CLS token's last hidden state;
2023, gpt2, the hidden state at position `count(input_ids != 0) - 1` (CLAPWrapper appends " <|endoftext|>" and
pads with "!", GPT-2's token 0) → `Projection` (768 → 1024), then divided by the norm (SonicDiffusion's
`get_text_embeddings`). Weights: the file's `caption_encoder.base.*` and `caption_encoder.projection.*`, strictly
checked against the layout of the declared config. Tokenizer files (not in a `.pth`) from a folder named after
the text model next to the checkpoint: `bert-base-uncased/` (vocab.txt) or `gpt2/` (vocab.json + merges.txt).
Prompts are tokenized to at most `text_len` tokens (100 / 77); padding does not change the result (masked,
or after the read position of the causal GPT-2).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..errors import ClapModelError
from .msclap_audio import Projection
from .msclap_file import MsClapVariant, is_msclap_checkpoint, layout_problems
from .prompts import clean_prompts

log = logging.getLogger(__name__)

TEXT_PREFIX = "caption_encoder."
TOKENIZER_FOLDER = {"2022": "bert-base-uncased", "2023": "gpt2"}
TOKENIZER_FILES = {"bert-base-uncased": (("vocab.txt",), ("tokenizer.json",)),
                   "gpt2": (("vocab.json", "merges.txt"), ("tokenizer.json",))}
# buffers older transformers versions saved
OPTIONAL_TEXT = ("embeddings.position_ids", "embeddings.token_type_ids", ".attn.bias", ".attn.masked_bias")
# bert-base-uncased's config.json, declared (BertConfig defaults are the same; spelled out so they cannot drift)
BERT_BASE_UNCASED = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                         intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2,
                         layer_norm_eps=1e-12, pad_token_id=0)
GPT2 = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, activation_function="gelu_new",
            layer_norm_epsilon=1e-5)  # gpt2's config.json


def text_config(variant: MsClapVariant):
    from .hf import transformers_module
    tf = transformers_module()
    if variant.text_model == "bert-base-uncased":
        return tf.BertConfig(**BERT_BASE_UNCASED)
    if variant.text_model == "gpt2":
        return tf.GPT2Config(**GPT2)
    raise ClapModelError(f"sound prompts with Microsoft CLAP {variant.version} ({variant.text_model} text tower) "
                         "are not supported")


class MsClapTextTower(torch.nn.Module):
    """`base` (BertModel / GPT2Model) + `projection`: token ids (N, L) → (N, d_proj), unnormalised."""

    def __init__(self, variant: MsClapVariant, config=None):
        super().__init__()
        from .hf import transformers_module
        tf = transformers_module()
        config = config or text_config(variant)
        self.gpt = variant.text_model == "gpt2"
        self.base = tf.GPT2Model(config) if self.gpt else tf.BertModel(config)
        self.projection = Projection(config.hidden_size, variant.d_proj)

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        if self.gpt:
            hidden = self.base(input_ids=input_ids, attention_mask=attention_mask)[0]      # (N, L, 768)
            last = torch.ne(input_ids, 0).sum(-1) - 1                                      # msclap's read position
            return self.projection(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])
        hidden = self.base(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        return self.projection(hidden[:, 0, :])  # CLS


def text_layout(variant: MsClapVariant, config=None) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        tower = MsClapTextTower(variant, config)
    return {TEXT_PREFIX + k: tuple(v.shape) for k, v in tower.state_dict().items()
            if not k.endswith(OPTIONAL_TEXT)}


class MsClapTextEncoder:
    """`encode(prompts)` → (N, 1024) unit embeddings in Microsoft CLAP's joint space."""

    def __init__(self, tower: MsClapTextTower, tokenizer, variant: MsClapVariant, device=None, dtype=None):
        self.variant, self.tokenizer = variant, tokenizer
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype or torch.float32
        self.model = tower.eval().requires_grad_(False).to(device=self.device, dtype=self.dtype)
        self.max_tokens = variant.text_len

    @property
    def embed_dim(self) -> int:
        return self.variant.d_proj

    @classmethod
    def from_checkpoint(cls, obj, tokenizer_dir, variant: MsClapVariant, name: str = "the file", config=None,
                        device=None, dtype=None) -> "MsClapTextEncoder":
        """From a loaded msclap file (`{"model": sd}`) and a folder with the tokenizer files."""
        from .hf import transformers_module
        tf, tokenizer_dir = transformers_module(), Path(tokenizer_dir)
        config = config or text_config(variant)
        sets = TOKENIZER_FILES[variant.text_model]
        if not any(all((tokenizer_dir / f).is_file() for f in files) for files in sets):
            raise ClapModelError(
                f"sound prompts with {name} need the tokenizer of {variant.text_model}, which the .pth does not hold: "
                f"put its {' + '.join(sets[0])} from the Hugging Face repo {variant.text_model} into {tokenizer_dir}")
        if not is_msclap_checkpoint(obj):
            raise ClapModelError(f"{name} is not a Microsoft CLAP file, so it has no Microsoft CLAP text tower")
        state = {k: v for k, v in obj["model"].items() if isinstance(k, str) and k.startswith(TEXT_PREFIX)
                 and not k.endswith(OPTIONAL_TEXT)}
        problems = layout_problems(state, text_layout(variant, config), prefix=TEXT_PREFIX)
        if problems:
            raise ClapModelError(f"{name}: the text tower (caption_encoder.*) does not fit msclap-{variant.version}'s "
                                 f"{variant.text_model}: {len(problems)} problem(s): " + "; ".join(problems[:4]) +
                                 "; the file is truncated or of another model: download it again")
        tower = MsClapTextTower(variant, config)
        n = len(TEXT_PREFIX)
        tower.load_state_dict({k[n:]: v for k, v in state.items()}, strict=False)
        try:
            if variant.text_model == "gpt2":
                tokenizer = tf.GPT2TokenizerFast.from_pretrained(str(tokenizer_dir), local_files_only=True)
                tokenizer.add_special_tokens({"pad_token": "!"})  # as CLAPWrapper.load_clap
            else:
                tokenizer = tf.BertTokenizerFast.from_pretrained(str(tokenizer_dir), local_files_only=True)
        except Exception as e:
            raise ClapModelError(f"could not load the {variant.text_model} tokenizer from {tokenizer_dir} "
                                 f"({type(e).__name__}: {e}); copy its files there again") from e
        return cls(tower, tokenizer, variant, device=device, dtype=dtype)

    @torch.no_grad()
    def encode(self, prompts, batch_size: int = 32) -> torch.Tensor:
        """prompts: N non-empty strings → float32 CPU (N, 1024), L2-normalised."""
        prompts = clean_prompts(prompts)
        embeds = []
        for i in range(0, len(prompts), batch_size):
            chunk = prompts[i:i + batch_size]
            if self.variant.text_model == "gpt2":
                chunk = [p + " <|endoftext|>" for p in chunk]  # CLAPWrapper.preprocess_text
            tok = self.tokenizer(chunk, padding=True, truncation=True, max_length=self.max_tokens,
                                 return_tensors="pt")
            if tok["input_ids"].shape[1] == self.max_tokens:
                log.warning("a sound prompt may have been cut to %d tokens", self.max_tokens)
            out = self.model(tok["input_ids"].to(self.device), tok["attention_mask"].to(self.device),
                             tok.get("token_type_ids").to(self.device) if "token_type_ids" in tok else None)
            embeds.append(out.float().cpu())
        return torch.nn.functional.normalize(torch.cat(embeds), dim=-1)
