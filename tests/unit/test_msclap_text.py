"""Microsoft CLAP 2022 text tower (sound prompts): parity with msclap's own `TextEncoder` on random weights.

msclap's `TextEncoder.__init__` downloads `bert-base-uncased` (`AutoModel.from_pretrained`); here that call is
replaced by a random `BertModel` of the same config, so its forward (`msclap/models/clap.py`: CLS token →
Projection) and the tokenization of `msclap/CLAPWrapper.py` `preprocess_text` (padding to `text_len` 100,
input_ids + token_type_ids + attention_mask) are the reference; SonicDiffusion normalises the result
(`CLAP/src/CLAPWrapper.py` `get_text_embeddings`).
"""
import pytest
import torch

from c2d_core.clap.msclap_file import VARIANTS
from c2d_core.clap.msclap_text import BERT_BASE_UNCASED, MsClapTextEncoder, text_layout
from c2d_core.errors import ClapModelError, SoundPromptError

msclap_clap = pytest.importorskip("msclap.models.clap", reason="msclap is not installed: run scripts/setup_env.sh "
                                  "(pip install --no-deps msclap, plus torchlibrosa and librosa)")
V = VARIANTS["2022"]
WORDS = ["rain", "thunder", "##storm", "heavy", "with", "fire", "crack", "##ling", "dog", "bark", "##ing", "a", "the",
         "birds", "sing", "in", "forest"]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("msclap_text") / "bert-base-uncased"
    d.mkdir()
    (d / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS) + "\n")
    return d


@pytest.fixture(scope="module")
def ref():
    """msclap's TextEncoder(d_out=1024, 'bert-base-uncased', 768) with a random BertModel instead of the hub's."""
    from transformers import BertConfig, BertModel

    class OfflineAutoModel:
        @staticmethod
        def from_pretrained(name):
            assert name == "bert-base-uncased"
            torch.manual_seed(3)
            return BertModel(BertConfig(**BERT_BASE_UNCASED))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(msclap_clap, "AutoModel", OfflineAutoModel)
        enc = msclap_clap.TextEncoder(V.d_proj, V.text_model, V.transformer_embed_dim)
    return enc.eval()


@pytest.fixture(scope="module")
def checkpoint(ref):
    sd = {f"caption_encoder.{k}": v for k, v in ref.state_dict().items()}
    sd["audio_encoder.projection.linear1.weight"] = torch.zeros(1024, 2048)  # the audio side is not read here
    return {"model": sd}


@pytest.fixture(scope="module")
def ours(checkpoint, tok_dir):
    return MsClapTextEncoder.from_checkpoint(checkpoint, tok_dir, V, name="CLAP_weights_2022.pth")


def ref_embed(ref, tok_dir, prompts):
    from transformers import BertTokenizerFast
    tokenizer = BertTokenizerFast.from_pretrained(str(tok_dir))
    # msclap calls encode_plus(...), which transformers 5 dropped; __call__ on one text is the same call
    toks = [tokenizer(text=p, add_special_tokens=True, max_length=V.text_len, padding="max_length",
                      return_tensors="pt") for p in prompts]
    batch = {k: torch.stack([t[k].reshape(-1) for t in toks]) for k in ("input_ids", "token_type_ids",
                                                                         "attention_mask")}
    with torch.no_grad():
        e = ref(batch)
    return e / torch.norm(e, dim=-1, keepdim=True)


def test_layout_is_msclaps_text_encoder(ref):
    want = {f"caption_encoder.{k}": tuple(v.shape) for k, v in ref.state_dict().items()
            if not k.endswith(("position_ids", "token_type_ids"))}
    assert text_layout(V) == want and want["caption_encoder.projection.linear1.weight"] == (1024, 768)


def test_prompts_match_msclap(ref, ours, tok_dir):
    prompts = ["heavy rain with thunderstorm", "birds sing in the forest", "dog barking"]
    got = ours.encode(prompts)
    want = ref_embed(ref, tok_dir, prompts)
    assert got.shape == (3, 1024)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert (want[0] - want[1]).abs().max() > 1e-2  # the text matters: the parity is not trivial
    with pytest.raises(SoundPromptError, match="empty"):
        ours.encode(["  "])


def test_missing_tokenizer_and_wrong_tensor(checkpoint, tok_dir, tmp_path):
    with pytest.raises(ClapModelError, match=r"tokenizer of bert-base-uncased.*vocab\.txt.*into"):
        MsClapTextEncoder.from_checkpoint(checkpoint, tmp_path / "bert-base-uncased", V)
    bad = {"model": dict(checkpoint["model"])}
    bad["model"]["caption_encoder.projection.linear1.weight"] = torch.zeros(1024, 512)
    with pytest.raises(ClapModelError, match=r"caption_encoder\.projection\.linear1\.weight has shape "
                                             r"\[1024, 512\], expected \[1024, 768\]"):
        MsClapTextEncoder.from_checkpoint(bad, tok_dir, V)
    with pytest.raises(ClapModelError, match=r"tokenizer of gpt2.*vocab\.json \+ merges\.txt"):
        MsClapTextEncoder.from_checkpoint(checkpoint, tok_dir, VARIANTS["2023"])


# ------------------------------------------------------------------------------------------ 2023: GPT-2
def gpt2_byte_vocab() -> dict:
    """GPT-2's 256 byte symbols in GPT-2's order ('!' is token 0, as in gpt2's vocab.json) + <|endoftext|>."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    vocab = {chr(c): i for i, c in enumerate(cs)}
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    import json
    d = tmp_path_factory.mktemp("msclap_text23") / "gpt2"
    d.mkdir()
    (d / "vocab.json").write_text(json.dumps(gpt2_byte_vocab()))
    (d / "merges.txt").write_text("#version: 0.2\n")
    return d


@pytest.fixture(scope="module")
def ref23():
    from transformers import GPT2Config, GPT2Model

    from c2d_core.clap.msclap_text import GPT2

    class OfflineAutoModel:
        @staticmethod
        def from_pretrained(name):
            assert name == "gpt2"
            torch.manual_seed(4)
            return GPT2Model(GPT2Config(**GPT2))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(msclap_clap, "AutoModel", OfflineAutoModel)
        enc = msclap_clap.TextEncoder(1024, "gpt2", 768)
    return enc.eval()


def test_gpt2_prompts_match_msclap(ref23, gpt2_dir):
    from transformers import GPT2TokenizerFast
    v23 = VARIANTS["2023"]
    sd = {f"caption_encoder.{k}": v for k, v in ref23.state_dict().items()}
    sd["audio_encoder.projection.linear1.weight"] = torch.zeros(1024, 768)  # the audio side is not read here
    ours = MsClapTextEncoder.from_checkpoint({"model": sd}, gpt2_dir, v23)
    prompts = ["heavy rain", "birds sing in the forest at dawn"]
    tokenizer = GPT2TokenizerFast.from_pretrained(str(gpt2_dir))
    tokenizer.add_special_tokens({"pad_token": "!"})  # CLAPWrapper.load_clap
    toks = [tokenizer(text=p + " <|endoftext|>", add_special_tokens=True, max_length=v23.text_len,
                      padding="max_length", return_tensors="pt") for p in prompts]
    assert tokenizer.pad_token_id == 0
    batch = {k: torch.stack([t[k].reshape(-1) for t in toks]) for k in ("input_ids", "attention_mask")}
    with torch.no_grad():
        want = ref23(batch)
    want = want / want.norm(dim=-1, keepdim=True)
    got = ours.encode(prompts)
    assert got.shape == (2, 1024)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert (want[0] - want[1]).abs().max() > 1e-2
