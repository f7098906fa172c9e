"""CLAP sound tags on a stand-in encoder whose audio and text embeddings are built to match: each label names a
frequency band, the audio embedding is the clip's energy per band, the label's text embedding is its band. With
random-weight CLAP the labels would be meaningless; here a known sound must give its known label first."""
import pytest
import torch

from c2d_core.audio_encoder import AudioEncoder
from c2d_core.errors import SoundPromptError
from c2d_core.sound_tags import (TagSettings, audioset_labels, parse_vocabulary, read_vocabulary, schedule_string,
                                 tag_audio)

BANDS = {"low hum": 100.0, "engine drone": 250.0, "whistle": 1000.0, "bird chirp": 3000.0, "hiss": 6000.0}
RATE = 16_000


class BandText:
    embed_dim = len(BANDS)

    def __init__(self):
        self.calls = 0

    def encode(self, prompts):
        self.calls += 1
        out = torch.zeros(len(prompts), self.embed_dim)
        for i, p in enumerate(prompts):
            for j, label in enumerate(BANDS):
                if label in p:
                    out[i, j] = 1.0
        return out


class BandEncoder(AudioEncoder):
    """Energy in a narrow band around each label's frequency (windows of 1 s)."""

    family = "band stand-in"
    window_seconds = 1.0
    embed_dim = len(BANDS)
    sample_rate = RATE

    def embed_windows(self, windows):
        rows = []
        for w in windows:
            spec = torch.fft.rfft(w.float(), n=RATE).abs()  # 1 Hz bins
            rows.append(torch.stack([spec[int(f) - 20:int(f) + 20].pow(2).sum() for f in BANDS.values()]).sqrt())
        return torch.stack(rows)

    def load_text_encoder(self):
        return BandText()


def tone(freqs, seconds=1.0, amps=None):
    t = torch.arange(int(seconds * RATE)) / RATE
    amps = amps or [0.4] * len(freqs)
    return sum(a * torch.sin(2 * torch.pi * f * t) for f, a in zip(freqs, amps))


@pytest.fixture
def encoder(tmp_path):
    return BandEncoder(model_id="bands", source=tmp_path)  # a source: the text tower loads on demand


def test_a_known_sound_gives_its_label_first(encoder):
    labels = list(BANDS)
    whistle = encoder.encode(tone([1000.0]), RATE)
    tags = tag_audio(encoder, whistle, labels, TagSettings(top_k=1))
    assert tags.prompt == "whistle" and tags.scores.endswith("whistle")
    mix = encoder.encode(tone([250.0, 3000.0], amps=[0.5, 0.3]), RATE)
    two = tag_audio(encoder, mix, labels, TagSettings(top_k=2, template="a photo of {labels}, dusk"))
    assert two.prompt == "a photo of engine drone, bird chirp, dusk"  # louder band first
    kept = tag_audio(encoder, mix, labels, TagSettings(top_k=5, threshold=0.3))
    assert kept.prompt == "engine drone, bird chirp"  # the other bands score ~0 and fall under the threshold
    only_best = tag_audio(encoder, mix, labels, TagSettings(top_k=5, threshold=0.99))
    assert only_best.prompt == "engine drone"  # the best label is kept even under the threshold


def test_per_frame_tags_and_a_schedule_at_the_change(encoder):
    clip = torch.cat([tone([100.0], 3.0), tone([6000.0], 2.0)])  # hum for 3 s, then hiss
    frames = encoder.encode(clip, RATE, pooling="none")[0]      # (5, D): one row per 1 s window
    tags = tag_audio(encoder, frames, list(BANDS), TagSettings(top_k=1))
    assert tags.frame_prompts == ["low hum"] * 3 + ["hiss"] * 2
    assert tags.schedule == '"0": "low hum",\n"3": "hiss"'


def test_label_embeddings_are_computed_once_per_vocabulary(encoder):
    x = encoder.encode(tone([1000.0]), RATE)
    tag_audio(encoder, x, list(BANDS), TagSettings())
    tag_audio(encoder, x, list(BANDS), TagSettings(top_k=2))
    assert encoder.text_encoder().calls == 1
    tag_audio(encoder, x, list(BANDS)[:3], TagSettings())
    assert encoder.text_encoder().calls == 2


def test_vocabularies(tmp_path):
    audioset = audioset_labels()
    assert len(audioset) == 527 and audioset[0] == "Speech" and audioset[137] == "Music" and audioset[300] == "Vehicle"
    assert parse_vocabulary("# my sounds\nrain\n\n  thunder \nrain\n") == ["rain", "thunder"]
    with pytest.raises(SoundPromptError, match="custom_labels has no labels: write one sound label per line"):
        parse_vocabulary("\n  \n# only a comment\n", "custom_labels")
    (tmp_path / "sounds.txt").write_text("\ufeffrain\nwind\n", encoding="utf-8")
    assert read_vocabulary(tmp_path / "sounds.txt") == ["rain", "wind"]
    (tmp_path / "picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(SoundPromptError, match="picture.txt is not a text vocabulary"):
        read_vocabulary(tmp_path / "picture.txt")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 noise\n".encode("latin-1"))
    with pytest.raises(SoundPromptError, match="latin1.txt is not UTF-8 text"):
        read_vocabulary(tmp_path / "latin1.txt")


def test_settings_and_prompts_are_checked(encoder):
    with pytest.raises(SoundPromptError, match="no {labels} placeholder"):
        TagSettings(template="a painting")
    with pytest.raises(SoundPromptError, match="no {label} placeholder"):
        tag_audio(encoder, torch.ones(1, 5), list(BANDS), TagSettings(), label_prompt="a sound")
    assert schedule_string(['say "hi"']) == '"0": "say \'hi\'"'
