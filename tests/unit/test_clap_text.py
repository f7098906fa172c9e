"""Sound prompts: CLAP's text tower (c2d_core.clap.text) on random-weight CLAPs built from configs.

HF folders come from devtools.standin_clap (with its locally trained RoBERTa BPE tokenizer). The LAION
text layout is taken from transformers' `RobertaModel` (the class laion-clap instantiates for its text
branch) plus laion-clap's `nn.Sequential(Linear, ReLU, Linear)` projection, never from the converter.
"""
import logging

import pytest
import torch
import torch.nn.functional as F

from c2d_core.encoder_registry import load_audio_encoder
from c2d_core.clap.text import ClapTextEncoder, split_prompt_lines
from c2d_core.errors import ClapModelError, SoundPromptError
from c2d_core.clap.laion_text_convert import convert_laion_text_state_dict, has_laion_text_branch
from devtools.standin_clap import write_standin_tokenizer

WORDS = ["thunderstorm with heavy rain", "crackling fire in a fireplace", "birds chirping in a forest"]


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory):
    from devtools.standin_clap import make_random_clap_folder
    return make_random_clap_folder(tmp_path_factory.mktemp("clap") / "clap-text", seed=5)


@pytest.fixture(scope="module")
def clap(clap_dir):
    return load_audio_encoder(clap_dir)


def test_text_tower_is_loaded_only_when_asked(clap_dir):
    enc = load_audio_encoder(clap_dir)
    wav = torch.randn(1, 1, 48_000, generator=torch.Generator().manual_seed(0)) * 0.1
    audio = enc.encode(wav, 48_000)
    assert enc._text_encoder is None  # audio-only use pays nothing
    enc.encode_text(["rain"])
    assert enc.text_encoder() is enc.text_encoder()  # built once, then reused
    assert torch.equal(enc.encode(wav, 48_000), audio)  # the audio side is untouched


def test_matches_transformers_clap_get_text_features(clap_dir, clap):
    """Same weights and tokenizer as the full ClapModel ⇒ the text tower was loaded, not re-initialised."""
    from transformers import AutoTokenizer, ClapModel
    full = ClapModel.from_pretrained(str(clap_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(clap_dir))
    with torch.no_grad():
        ref = full.get_text_features(**tok(WORDS, padding=True, return_tensors="pt"))
    ref = getattr(ref, "pooler_output", ref)
    torch.testing.assert_close(clap.encode_text(WORDS), F.normalize(ref, dim=-1), atol=1e-5, rtol=1e-4)


def test_shape_norm_determinism_and_word_dependence(clap_dir, clap):
    e = clap.encode_text(WORDS)
    assert e.shape == (3, 512) and e.dtype == torch.float32 and e.device.type == "cpu"
    torch.testing.assert_close(e.norm(dim=-1), torch.ones(3))
    again = load_audio_encoder(clap_dir).encode_text(WORDS)  # fresh load, same files
    assert torch.equal(e, again)
    for i in range(3):
        for j in range(i):
            assert (e[i] - e[j]).abs().max() > 1e-3, (WORDS[i], WORDS[j])


def test_batch_equals_single_despite_padding(clap):
    batch = clap.encode_text(["fire", WORDS[0]])  # "fire" is padded to the longer prompt
    torch.testing.assert_close(batch[:1], clap.encode_text(["fire"]), atol=1e-5, rtol=1e-4)


def test_text_and_audio_embeddings_share_one_space(clap):
    """Same CLAP ⇒ same width and unit norm, so every AUDIO_EMBEDS consumer accepts either."""
    text = clap.encode_text(["rain"])
    audio = clap.encode(torch.randn(1, 1, 48_000) * 0.1, 48_000)
    assert text.shape == audio.shape == (1, clap.embed_dim)
    torch.testing.assert_close(text.norm(dim=-1), audio.norm(dim=-1))
    assert clap.text_encoder().model_id == clap.model_id
    assert -1.0 <= float((text * audio).sum()) <= 1.0


def test_empty_prompts_are_refused(clap):
    assert split_prompt_lines("  rain \n\n  fire\n   ") == ["rain", "fire"]
    assert split_prompt_lines(" \n\t\n") == []
    for bad in ([], [""], ["rain", "   "]):
        with pytest.raises(SoundPromptError, match="empty"):
            clap.encode_text(bad)


def test_long_prompts_are_cut_with_a_warning(clap, caplog):
    long = " ".join(["thunderstorm"] * 200)
    with caplog.at_level(logging.WARNING, logger="c2d_core.clap.text"):
        e = clap.encode_text([long])
    assert e.shape == (1, 512) and "cut to" in caplog.text


def test_folder_without_tokenizer_is_a_clear_error(tmp_path, clap_dir):
    folder = tmp_path / "no-tokenizer"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
        (folder / name).symlink_to(clap_dir / name)
    enc = load_audio_encoder(folder)
    assert enc.encode(torch.randn(1, 1, 48_000) * 0.1, 48_000).shape == (1, 512)  # audio still works
    with pytest.raises(ClapModelError, match=r"no tokenizer files .*laion/clap-htsat-unfused"):
        enc.encode_text(["rain"])


def test_audio_only_folder_is_a_clear_error(tmp_path, clap_dir):
    from transformers import ClapAudioModelWithProjection
    folder = tmp_path / "audio-only"
    ClapAudioModelWithProjection.from_pretrained(str(clap_dir)).save_pretrained(str(folder))
    write_standin_tokenizer(folder)  # even with a tokenizer: there is no text tower
    enc = load_audio_encoder(folder)
    with pytest.raises(ClapModelError, match="no CLAP text branch"):
        enc.encode_text(["rain"])


def test_full_config_with_audio_weights_only_is_a_clear_error(tmp_path, clap_dir):
    """E.g. toy.task.compact_clap_folder keeps only the audio tower's weights: never run random text."""
    from safetensors.torch import load_file, save_file
    folder = tmp_path / "compact"
    folder.mkdir()
    for name in ("config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).symlink_to(clap_dir / name)
    state = load_file(str(clap_dir / "model.safetensors"))
    save_file({k: v for k, v in state.items() if k.startswith(("audio_model.", "audio_projection."))},
              str(folder / "model.safetensors"), metadata={"format": "pt"})
    enc = load_audio_encoder(folder)
    with pytest.raises(ClapModelError, match=r"no trained CLAP text weights \(\d+ missing"):
        enc.encode_text(["rain"])


# --------------------------------------------------------------------------------- LAION .pt
def laion_text_state(seed=0, width=128, layers=2, vocab=1000, positions=80, proj=512):
    """laion-clap's text side: text_branch = RobertaModel, text_projection = Sequential(Linear, ReLU, Linear),
    plus keys the converter must drop (text_transform, logit scales, the position_ids buffer)."""
    from transformers import RobertaConfig, RobertaModel
    torch.manual_seed(seed)
    cfg = RobertaConfig(vocab_size=vocab, hidden_size=width, num_hidden_layers=layers,
                        num_attention_heads=width // 64, intermediate_size=2 * width,
                        max_position_embeddings=positions, layer_norm_eps=1e-5, pad_token_id=1)
    roberta = RobertaModel(cfg).eval()
    projection = torch.nn.Sequential(torch.nn.Linear(width, proj), torch.nn.ReLU(), torch.nn.Linear(proj, proj))
    sd = {f"text_branch.{k}": v for k, v in roberta.state_dict().items()}
    sd |= {f"text_projection.{k}": v for k, v in projection.state_dict().items()}
    sd |= {"text_branch.embeddings.position_ids": torch.arange(positions)[None],
           "text_transform.sequential.0.weight": torch.zeros(proj, proj), "logit_scale_t": torch.ones(())}
    return sd, roberta, projection


def test_laion_text_branch_matches_roberta_plus_projection(tmp_path):
    sd, roberta, projection = laion_text_state()
    assert has_laion_text_branch({"state_dict": {f"module.{k}": v for k, v in sd.items()}})
    config, hf = convert_laion_text_state_dict({"state_dict": {f"module.{k}": v for k, v in sd.items()}})
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.projection_dim) == \
        (128, 2, 2, 512)
    torch.save({"state_dict": sd}, tmp_path / "630k-best.pt")
    write_standin_tokenizer(tmp_path / "roberta-base")
    enc = ClapTextEncoder.from_laion_checkpoint(tmp_path / "630k-best.pt")
    tokens = enc.tokenizer(WORDS, padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = projection(roberta(**tokens).pooler_output)  # what laion-clap's encode_text computes
    torch.testing.assert_close(enc.encode(WORDS), F.normalize(ref, dim=-1), atol=1e-5, rtol=1e-4)


def test_laion_pt_sound_prompt_through_the_audio_encoder(tmp_path):
    """A full laion-clap .pt (audio + text) loads through load_audio_encoder; text embeds lazily."""
    from test_laion_clap_convert import laion_state, tiny_layout
    text, _, _ = laion_text_state(seed=1)
    torch.save({"epoch": 45, "state_dict": laion_state(tiny_layout()) | {f"module.{k}": v for k, v in text.items()}},
               tmp_path / "630k-audioset-best.pt")
    enc = load_audio_encoder(tmp_path / "630k-audioset-best.pt")
    with pytest.raises(ClapModelError, match=r"holds no tokenizer.*roberta-base"):
        enc.encode_text(["rain"])
    write_standin_tokenizer(tmp_path / "roberta-base")
    enc._text_encoder = None
    e = enc.encode_text(["rain", "fire"])
    assert e.shape == (2, enc.embed_dim) and (e[0] - e[1]).abs().max() > 1e-3
    assert enc.text_encoder().model_id == "630k-audioset-best"


def test_laion_text_errors(tmp_path):
    sd, _, _ = laion_text_state()
    with pytest.raises(ClapModelError, match="no text branch"):
        convert_laion_text_state_dict({k: v for k, v in sd.items() if not k.startswith("text_branch.")})
    with pytest.raises(ClapModelError, match=r"text_projection\.2\.weight is missing"):
        convert_laion_text_state_dict({k: v for k, v in sd.items() if k != "text_projection.2.weight"})
    with pytest.raises(ClapModelError, match=r"1 unexpected .*text_branch\.encoder\.layer\.0\.adapter"):
        convert_laion_text_state_dict(sd | {"text_branch.encoder.layer.0.adapter.weight": torch.zeros(2)})
    with pytest.raises(ClapModelError, match=r"512 dims but its audio to 1024"):
        convert_laion_text_state_dict(sd, projection_dim=1024)
    with pytest.raises(ClapModelError, match="multiple of"):
        convert_laion_text_state_dict(sd | {"text_branch.embeddings.word_embeddings.weight": torch.zeros(1000, 100)})
