"""Random-weight CLAP models in Hugging Face format, built from configs (no download).

`make_random_clap_folder` writes what `laion/clap-htsat-unfused` looks like on disk (config.json,
model.safetensors, preprocessor_config.json, and RoBERTa tokenizer files) so the real loading code paths
(audio and text) run in tests and the demo. The tokenizer is a tiny byte-level BPE trained here on a few
sound words (no download); its ids fit the random text tower's vocabulary.
"""
from __future__ import annotations

from pathlib import Path

import torch


def clap_config(projection_dim: int = 512, tiny: bool = True, fused: bool = False):
    """transformers.ClapConfig: tiny (a few M params, fast on CPU) or the real HTSAT-tiny size."""
    from transformers import ClapConfig
    text = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=80) if tiny else {}
    audio = dict(patch_embeds_hidden_size=32, hidden_size=256, depths=[1, 1, 1, 1],
                 num_attention_heads=[2, 4, 8, 16]) if tiny else {}
    audio["enable_fusion"] = fused
    return ClapConfig(text_config=text, audio_config=audio, projection_dim=projection_dim)


def make_random_clap_folder(path, seed: int = 0, projection_dim: int = 512, tiny: bool = True,
                            fused: bool = False) -> Path:
    """Writes a random-weight ClapModel folder at `path` (created) and returns it."""
    from transformers import ClapFeatureExtractor, ClapModel
    path = Path(path)
    torch.manual_seed(seed)
    model = ClapModel(clap_config(projection_dim, tiny, fused)).eval()
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path), safe_serialization=True)
    ClapFeatureExtractor(truncation="fusion" if fused else "rand_trunc").save_pretrained(str(path))
    write_standin_tokenizer(path, vocab_size=model.config.text_config.vocab_size)
    return path


SOUND_WORDS = ("thunderstorm with heavy rain", "crackling fire in a fireplace", "birds chirping in a forest",
               "a dog barking", "ocean waves on a beach", "wind howling", "a car engine", "church bells ringing",
               "footsteps on gravel", "a crowd cheering", "a violin melody", "electronic beat with bass drum",
               "the sound of a cat", "water dripping in a cave", "a train passing by", "people talking in a cafe")
ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # ids 0-4, RoBERTa's order (pad id 1 = config)


def write_standin_tokenizer(path, vocab_size: int = 1000) -> Path:
    """Trains a byte-level BPE (RoBERTa's kind) on SOUND_WORDS and saves it as a RoBERTa tokenizer in `path`
    (vocab.json, merges.txt, tokenizer.json, tokenizer_config.json). Deterministic; touches no torch RNG."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(SOUND_WORDS) * 4, vocab_size=vocab_size, min_frequency=1,
                            special_tokens=list(ROBERTA_SPECIALS), show_progress=False)
    assert bpe.get_vocab_size() <= vocab_size, f"tokenizer vocab {bpe.get_vocab_size()} > text tower's {vocab_size}"
    bpe.save_model(str(path))  # vocab.json + merges.txt
    tok = RobertaTokenizerFast.from_pretrained(str(path), model_max_length=512)
    tok.save_pretrained(str(path))
    return path
