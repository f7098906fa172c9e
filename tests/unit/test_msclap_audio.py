"""Microsoft CLAP 2022 audio tower: parity with msclap's own classes on random weights in the released layout.

The reference is msclap 1.3.4 (`pip install --no-deps msclap`, test env only): `msclap/models/clap.py`
`CLAP.__init__` names the audio tower `self.audio_encoder = AudioEncoder(...)`, so the released
`CLAP_weights_2022.pth` (`{'model': CLAP.state_dict()}`, loaded by `msclap/CLAPWrapper.py` `load_clap`)
holds `audio_encoder.base.*` (Cnn14, `msclap/models/audio.py`) and `audio_encoder.projection.*`.
The audio preparation is SonicDiffusion's (`CLAP/src/CLAPWrapper.py` `load_audio_into_tensor`: channel mean,
`T.Resample` to 44.1 kHz, a short clip repeated `ceil(441000 / T)` times and cut; embeddings divided by
their norm in `_get_audio_embeddings`) with `duration: 10` (`CLAP/src/configs/config.yml`).
"""
import math

import pytest
import torch
import torch.nn.functional as F

from c2d_core.clap import MsClapAudioEncoder
from c2d_core.clap.msclap_audio import MsClapAudioTower, dft_kernels, slaney_mel_filters
from c2d_core.clap.msclap_file import VARIANTS
from c2d_core.clap.msclap_layout import audio_layout
from c2d_core.encoder_registry import load_audio_encoder
from c2d_core.errors import ClapModelError

msclap_audio = pytest.importorskip("msclap.models.clap", reason="msclap is not installed: run scripts/setup_env.sh "
                                   "(pip install --no-deps msclap, plus torchlibrosa and librosa)")

V = VARIANTS["2022"]
SR = 44_100
N = 441_000


def noise(seconds, rate=SR, channels=1, seed=0, amp=0.3):
    """(channels, T): a tone (frequency by seed, level by channel) plus white noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * rate)) / rate
    tone = torch.sin(2 * math.pi * (220 + 80 * seed) * t)
    return amp * tone * torch.rand(channels, 1, generator=g) + 0.05 * torch.randn(channels, t.numel(), generator=g)


@pytest.fixture(scope="module")
def ref():
    """msclap's AudioEncoder with the 2022 config (`configs/config_2022.yml`), random weights; BatchNorm
    statistics calibrated on a few clips (train-mode pass) so the random net's embeddings depend on the sound."""
    torch.manual_seed(7)
    enc = msclap_audio.AudioEncoder("Cnn14", V.out_emb, V.d_proj, V.sample_rate, V.window_size, V.hop_size,
                                    V.mel_bins, V.fmin, V.fmax, V.classes_num)
    with torch.no_grad():
        for m in enc.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.LayerNorm)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration pass
        enc.train()
        enc(torch.cat([noise(1.0, seed=s, amp=a) for s, a in ((11, 0.3), (12, 0.05), (13, 0.6), (14, 0.01))]))
    return enc.eval()


@pytest.fixture(scope="module")
def ref_file(ref, tmp_path_factory):
    """The released file's layout: {'model': CLAP.state_dict()}; a few text-tower tensors ride along."""
    sd = {f"audio_encoder.{k}": v for k, v in ref.state_dict().items()}
    sd["caption_encoder.projection.linear1.weight"] = torch.randn(1024, 768)
    sd["logit_scale"] = torch.tensor(math.log(1 / 0.07))
    path = tmp_path_factory.mktemp("msclap") / "CLAP_weights_2022.pth"
    torch.save({"model": sd}, path)
    return path


@pytest.fixture(scope="module")
def ours(ref_file):
    enc = load_audio_encoder(ref_file)  # the pack's one entry point dispatches on the file's format
    assert isinstance(enc, MsClapAudioEncoder)
    return enc


def ref_embed(ref, x):
    """SonicDiffusion's `_get_audio_embeddings`: audio_encoder(x)[0] / its norm. x: (B, 441000)."""
    with torch.no_grad():
        e = ref(x)[0]
    return e / torch.norm(e, dim=-1, keepdim=True)


def ref_tile(x):
    """SonicDiffusion's short-clip rule on a 1-D clip."""
    return x.repeat(int(math.ceil(N / x.shape[0])))[:N]


def test_declared_layout_is_msclaps_module_tree(ref):
    want = {f"audio_encoder.{k}": tuple(v.shape) for k, v in ref.state_dict().items()}
    assert audio_layout(V) == want
    assert len(want) == 88 and sum(math.prod(s) for s in want.values()) > 80_000_000


def test_front_end_matches_torchlibrosa(ref):
    """Our computed STFT kernels / mel bank (not the file's) and log-mel equal torchlibrosa's."""
    sd = ref.state_dict()
    real, imag = dft_kernels(V.window_size)
    torch.testing.assert_close(real, sd["base.spectrogram_extractor.stft.conv_real.weight"], atol=1e-6, rtol=0)
    torch.testing.assert_close(imag, sd["base.spectrogram_extractor.stft.conv_imag.weight"], atol=1e-6, rtol=0)
    mel = slaney_mel_filters(V.sample_rate, V.window_size, V.mel_bins, V.fmin, V.fmax)
    torch.testing.assert_close(mel, sd["base.logmel_extractor.melW"], atol=1e-7, rtol=1e-5)
    tower = MsClapAudioTower(V)  # fresh: front end computed from the config
    x = noise(1.5, seed=1)
    with torch.no_grad():
        want = ref.base.logmel_extractor(ref.base.spectrogram_extractor(x))
        got = tower.base.log_mel(x)
    assert got.shape == want.shape == (1, 1, 1.5 * SR // V.hop_size + 1, 64)
    torch.testing.assert_close(got, want, atol=2e-3, rtol=1e-5)  # dB; float32 conv sums of 1024 products


def test_ten_second_clip_matches_msclap(ref, ours):
    x = noise(10.0, seed=2)
    got = ours.encode(x, SR)
    assert got.shape == (1, 1024) and ours.embed_dim == 1024 and ours.model_id == "msclap-2022"
    want = ref_embed(ref, x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    other = ref_embed(ref, noise(10.0, seed=5, amp=0.02))
    assert (want - other).abs().max() > 1e-2  # the embedding depends on the sound: parity is not trivial


def test_short_stereo_48k_clip_is_prepared_like_sonicdiffusion(ref, ours):
    """Channel mean → torchaudio Resample 48k → 44.1k → tiled to 10 s → Cnn14 → normalised."""
    import torchaudio.transforms as T
    x = noise(2.5, rate=48_000, channels=2, seed=3)
    prepared = ref_tile(T.Resample(48_000, SR)(x.mean(dim=0, keepdim=True)).reshape(-1))
    got = ours.encode(x, 48_000)
    torch.testing.assert_close(got, ref_embed(ref, prepared[None]), atol=1e-5, rtol=1e-4)
    flat, B, W = ours.windows(x, 48_000)
    assert (B, W) == (1, 1) and flat[0].shape[0] == int(2.5 * SR)  # the tiling happens at encode time


def test_long_clip_is_deterministic_mean_of_windows(ref, ours):
    x = torch.cat([noise(10.0, seed=4), noise(3.0, seed=6, amp=0.02)], dim=-1)
    per = ours.encode(x, SR, pooling="none")
    assert per.shape == (1, 2, 1024)  # 0–10 s, 10–13 s (tiled to 10 s)
    torch.testing.assert_close(per[0, 0], ref_embed(ref, x[:, :N])[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(per[0, 1], ref_embed(ref, ref_tile(x[0, N:])[None])[0], atol=1e-5, rtol=1e-4)
    assert (per[0, 0] - per[0, 1]).abs().max() > 1e-2  # the windows differ: each was encoded
    mean = ours.encode(x, SR)  # a second pass: a random crop (SonicDiffusion's) could not match the windows
    torch.testing.assert_close(mean, F.normalize(per.mean(dim=1), dim=-1))


def test_dtype_cast_keeps_front_end_fp32(ref_file):
    enc = MsClapAudioEncoder.from_path(ref_file, dtype=torch.bfloat16)
    base = enc.model.base
    assert base.fc1.weight.dtype == torch.bfloat16 and base.conv_block1.conv1.weight.dtype == torch.bfloat16
    assert base.logmel_extractor.melW.dtype == torch.float32
    assert base.spectrogram_extractor.stft.conv_real.weight.dtype == torch.float32
    with pytest.raises(ClapModelError, match="tokenizer of bert-base-uncased.*vocab.txt"):
        enc.encode_text(["rain"])  # no bert-base-uncased/ folder next to the file
