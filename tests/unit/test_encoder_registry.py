"""The audio encoder plug-in point: one registry picks the reader by the file's declared layout, one safe reader,
one shared encode loop. A fake encoder registered here shows that adding one needs nothing else."""
import pickle

import pytest
import torch

from c2d_core.audio_encoder import AudioEncoder, EncoderFormat
from c2d_core.encoder_registry import FORMATS, claiming_formats, load_audio_encoder
from c2d_core.errors import AdapterFileError, ClapModelError
from c2d_core.torch_files import read_checkpoint

FAKE_KEY = "toy_encoder.projection"


class ToyEncoder(AudioEncoder):
    """Embeds each window as (mean, RMS, peak, length in s) through a 4 × 4 matrix read from its file."""

    family = "toy"
    window_seconds = 2.0
    default_batch_windows = 3

    def __init__(self, projection, **kw):
        super().__init__(**kw)
        self.model = torch.nn.Linear(4, 4, bias=False)
        self.model.weight.data.copy_(projection)
        self.batches = []

    embed_dim = 4
    sample_rate = 8_000

    def embed_windows(self, windows):
        self.batches.append(len(windows))
        feats = torch.stack([torch.stack([w.mean(), w.pow(2).mean().sqrt(), w.abs().max(),
                                          torch.tensor(w.numel() / self.sample_rate)]) for w in windows])
        return self.model(feats)  # (n, 4)


TOY_FORMAT = EncoderFormat(
    name="toy", describe="a toy encoder file ({'toy_encoder.projection': (4, 4)})",
    claims_file=lambda obj: isinstance(obj, dict) and FAKE_KEY in obj,
    load=lambda path, obj, device, dtype: ToyEncoder(obj[FAKE_KEY], model_id=path.stem, source=path))


@pytest.fixture
def with_toy(monkeypatch):
    monkeypatch.setitem(FORMATS, "toy", TOY_FORMAT)


def tone(seconds, rate=8_000, freq=440.0, amp=0.5):
    t = torch.arange(int(seconds * rate)) / rate
    return amp * torch.sin(2 * torch.pi * freq * t)


def test_a_registered_encoder_loads_by_its_layout_and_uses_the_shared_encode_loop(tmp_path, with_toy):
    proj = torch.eye(4)
    torch.save({FAKE_KEY: proj}, tmp_path / "toy.bin")
    enc = load_audio_encoder(tmp_path / "toy.bin")
    assert isinstance(enc, ToyEncoder) and enc.model_id == "toy" and enc.source == tmp_path / "toy.bin"
    # 5 s at 16 kHz stereo → mono at the encoder's 8 kHz → windows of 2, 2 and 1 s (a tail ≥ 1 s is kept)
    stereo = torch.stack([tone(5.0, 16_000), tone(5.0, 16_000)])
    progress = []
    per_window = enc.encode(stereo, 16_000, pooling="none", on_progress=lambda d, t: progress.append((d, t)))
    assert per_window.shape == (1, 3, 4) and enc.batches == [3]
    assert progress == [(3, 3)]
    lengths = per_window[0, :, 3] / per_window[0].norm(dim=-1)  # unit rows of (mean, rms, peak, seconds)
    assert lengths[0] == pytest.approx(lengths[1]) and lengths[2] < lengths[0]
    pooled = enc.encode(stereo, 16_000, batch_windows=2)
    assert pooled.shape == (1, 4) and enc.batches[-2:] == [2, 1]
    torch.testing.assert_close(pooled.norm(dim=-1), torch.ones(1))
    with pytest.raises(ClapModelError, match="toy.*has no text tower"):
        enc.encode_text(["rain"])


def test_the_real_formats_each_claim_only_their_own_files(with_toy):
    from devtools.standin_msclap import random_msclap_state
    laion = {"state_dict": {"module.audio_branch.patch_embed.proj.weight": torch.zeros(2)}}
    msclap = {"model": {"audio_encoder.base.bn0.weight": torch.zeros(2)}}
    toy = {FAKE_KEY: torch.eye(4)}
    assert [f.name for f in claiming_formats(laion)] == ["laion-clap"]
    assert [f.name for f in claiming_formats(msclap)] == ["msclap"]
    assert [f.name for f in claiming_formats({"model": random_msclap_state(seed=0)})] == ["msclap"]
    assert [f.name for f in claiming_formats(toy)] == ["toy"]
    assert claiming_formats({"weights": torch.zeros(1)}) == []


def test_an_unknown_file_names_every_format_the_pack_reads(tmp_path, with_toy):
    torch.save({"weights": torch.zeros(2), "step": 3}, tmp_path / "other.pt")
    with pytest.raises(ClapModelError) as info:
        load_audio_encoder(tmp_path / "other.pt")
    msg = str(info.value)
    assert "other.pt is not an audio encoder file" in msg and "'weights'" in msg
    for fmt in FORMATS.values():
        if fmt.claims_file is not None:
            assert fmt.describe in msg


def test_two_formats_claiming_one_file_is_reported_as_a_bug(tmp_path, with_toy, monkeypatch):
    monkeypatch.setitem(FORMATS, "toy2", EncoderFormat(name="toy2", describe="another", load=TOY_FORMAT.load,
                                                       claims_file=TOY_FORMAT.claims_file))
    torch.save({FAKE_KEY: torch.eye(4)}, tmp_path / "toy.pt")
    with pytest.raises(ClapModelError, match=r"fits several formats \(\['toy', 'toy2'\]\); report it"):
        load_audio_encoder(tmp_path / "toy.pt")


def test_a_folder_without_a_folder_format_says_what_a_model_folder_holds(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClapModelError, match="not a model folder.*config.json"):
        load_audio_encoder(tmp_path / "empty")
    with pytest.raises(ClapModelError, match="audio encoder not found.*models/audio_encoders"):
        load_audio_encoder(tmp_path / "nothing_here.pth")


class RunsCode:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt", ".bin"])
def test_the_safe_reader_refuses_unsafe_pickles_with_the_callers_error(tmp_path, suffix):
    marker = tmp_path / "ran.txt"
    path = tmp_path / f"evil{suffix}"
    torch.save({"w": torch.zeros(1), "x": RunsCode(marker)}, path)
    with pytest.raises(AdapterFileError, match=f"evil{suffix} needs unsafe unpickling.*Re-save it"):
        read_checkpoint(path, what="a thing", error=AdapterFileError, unsafe_advice="Re-save it")
    assert not marker.exists()


def test_the_safe_reader_maps_zip_files_and_still_reads_legacy_ones(tmp_path):
    state = {"a": torch.arange(6.0).reshape(2, 3)}
    torch.save(state, tmp_path / "new.pt")
    torch.save(state, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    for name in ("new.pt", "old.pt"):
        got = read_checkpoint(tmp_path / name, what="x", error=ClapModelError, unsafe_advice="", mmap=True)
        torch.testing.assert_close(got["a"], state["a"])
    (tmp_path / "cut.pt").write_bytes((tmp_path / "new.pt").read_bytes()[:100])
    with pytest.raises(ClapModelError, match="cut.pt as a torch checkpoint: the file is truncated or not x"):
        read_checkpoint(tmp_path / "cut.pt", what="x", error=ClapModelError, unsafe_advice="", mmap=True)
    with open(tmp_path / "plain.pkl.pt", "wb") as f:
        pickle.dump({"a": 1}, f)
    with pytest.raises(ClapModelError, match="plain.pkl.pt"):
        read_checkpoint(tmp_path / "plain.pkl.pt", what="x", error=ClapModelError, unsafe_advice="")


def test_every_registered_format_has_a_reader_and_a_description():
    assert set(FORMATS) >= {"hf-clap", "laion-clap", "msclap"}
    for name, fmt in FORMATS.items():
        assert fmt.name == name and fmt.describe and callable(fmt.load)
        assert (fmt.claims_file is None) != (fmt.claims_folder is None)
