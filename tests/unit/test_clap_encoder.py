"""ClapAudioEncoder on random-weight CLAP folders built from configs (real HF loading path)."""
import pickle

import pytest
import torch
import torch.nn.functional as F

from c2d_core.encoder_registry import load_audio_encoder
from c2d_core.errors import ClapModelError
from devtools.demo_audio import synth
from devtools.standin_clap import make_random_clap_folder


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory):
    return make_random_clap_folder(tmp_path_factory.mktemp("clap") / "clap-random", seed=3)


@pytest.fixture(scope="module")
def encoder(clap_dir):
    return load_audio_encoder(clap_dir)


def clip(kind="rain", seconds=3.0, rate=48_000, channels=1, seed=0):
    return torch.from_numpy(synth(kind, seconds, rate, channels, seed))  # (C, T)


def test_matches_transformers_clap_model(clap_dir, encoder):
    """Same weights as the full ClapModel read from the folder ⇒ the audio tower was loaded, not re-initialised."""
    from transformers import ClapFeatureExtractor, ClapModel
    full = ClapModel.from_pretrained(str(clap_dir)).eval()
    fe = ClapFeatureExtractor.from_pretrained(str(clap_dir))
    wav = clip()
    feats = fe(wav[0].numpy(), sampling_rate=48_000, return_tensors="pt")
    with torch.no_grad():
        ref = full.get_audio_features(input_features=feats["input_features"])
    ref = getattr(ref, "pooler_output", ref)
    got = encoder.encode(wav, 48_000)
    assert got.shape == (1, 512) and encoder.embed_dim == 512
    torch.testing.assert_close(got, F.normalize(ref, dim=-1), atol=1e-5, rtol=1e-4)


def test_normalised_deterministic_and_sound_dependent(encoder):
    a = encoder.encode(clip("rain"), 48_000)
    assert torch.allclose(a.norm(dim=-1), torch.ones(1))
    assert torch.equal(a, encoder.encode(clip("rain"), 48_000))
    b = encoder.encode(clip("chirp"), 48_000)
    assert (a - b).abs().max() > 1e-3


def test_rate_and_channels_do_not_change_the_sound(encoder):
    ref = encoder.encode(clip("tone", rate=48_000), 48_000)
    for rate, ch in [(44_100, 2), (16_000, 1), (96_000, 6)]:
        got = encoder.encode(clip("tone", rate=rate, channels=ch), rate)
        assert F.cosine_similarity(got, ref).item() > 0.98, (rate, ch)


def test_long_clips_are_windowed(encoder):
    wav = clip("rain", seconds=25.0)
    per = encoder.encode(wav, 48_000, pooling="none")
    assert per.shape == (1, 3, 512)
    pooled = encoder.encode(wav, 48_000)
    torch.testing.assert_close(pooled, F.normalize(per.mean(1), dim=-1))
    first = encoder.encode(wav[:, :480_000], 48_000)
    torch.testing.assert_close(per[:, 0], first, atol=1e-5, rtol=1e-4)


def test_batch_equals_single(encoder):
    batch = torch.stack([clip("rain"), clip("chirp")])  # (2, 1, T)
    got = encoder.encode(batch, 48_000)
    torch.testing.assert_close(got[1:], encoder.encode(clip("chirp"), 48_000), atol=1e-5, rtol=1e-4)


def test_other_projection_width(tmp_path):
    enc = load_audio_encoder(make_random_clap_folder(tmp_path / "wide", projection_dim=1024))
    assert enc.embed_dim == 1024 and enc.encode(clip(), 48_000).shape == (1, 1024)


def test_bad_model_paths(tmp_path, clap_dir):
    with pytest.raises(ClapModelError, match="not found"):
        load_audio_encoder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClapModelError, match="config.json"):
        load_audio_encoder(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((clap_dir / "config.json").read_text())
    (broken / "model.safetensors").write_bytes((clap_dir / "model.safetensors").read_bytes()[:5000])
    with pytest.raises(ClapModelError, match="corrupt"):
        load_audio_encoder(broken)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ClapModelError, match="not a CLAP model"):
        load_audio_encoder(tmp_path / "notes.txt")


class Evil:
    def __reduce__(self):
        return (print, ("this would run arbitrary code",))


def test_unsafe_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {"x": Evil()}}, f)
    torch.save({"state_dict": {"audio_branch.x": torch.zeros(1)}, "obj": Evil()}, tmp_path / "evil2.pt")
    for p in (path, tmp_path / "evil2.pt"):
        with pytest.raises(ClapModelError, match="unsafe"):
            load_audio_encoder(p)


def test_checkpoint_without_audio_branch(tmp_path):
    torch.save({"state_dict": {"text_branch.w": torch.zeros(2)}}, tmp_path / "text.pt")
    with pytest.raises(ClapModelError, match="audio_branch"):
        load_audio_encoder(tmp_path / "text.pt")
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ClapModelError, match="truncated"):
        load_audio_encoder(tmp_path / "cut.pt")
