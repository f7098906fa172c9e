"""Microsoft CLAP 2023 audio tower (HTSAT on transformers' ClapAudioModel): parity with msclap's own classes.

Reference: msclap 1.3.4's `AudioEncoder("HTSAT", ...)` (`msclap/models/clap.py`), whose `HTSATWrapper`
(`msclap/models/htsat.py`) builds its front end and shape from `msclap/models/config.py` (mel bank for 32 kHz,
50–14,000 Hz) and returns `latent_output`; CLAPWrapper feeds it 7 s at 44.1 kHz (`configs/config_2023.yml`,
`load_audio_into_tensor`: a short clip repeated and cut). Random weights, BatchNorm calibrated on two clips.
"""
import math

import pytest
import torch

from c2d_core.clap import MsClapAudioEncoder
from c2d_core.clap.msclap_audio import slaney_mel_filters
from c2d_core.clap.msclap_file import VARIANTS
from c2d_core.clap.msclap_layout import read_msclap_audio
from c2d_core.errors import ClapModelError

msclap_audio = pytest.importorskip("msclap.models.clap", reason="msclap is not installed: run scripts/setup_env.sh "
                                   "(pip install --no-deps msclap, plus torchlibrosa and librosa)")
V = VARIANTS["2023"]
SR = 44_100
N = 308_700  # 7 s


def noise(seconds, seed=0, amp=0.3, rate=SR):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * rate)) / rate
    return amp * torch.sin(2 * math.pi * (220 + 80 * seed) * t)[None] + 0.05 * torch.randn(1, t.numel(), generator=g)


@pytest.fixture(scope="module")
def ref():
    torch.manual_seed(1)  # the yml's values; HTSATWrapper overrides them from models/config.py
    enc = msclap_audio.AudioEncoder("HTSAT", 768, 1024, 44100, 1024, 320, 64, 50, 8000, 527)
    with torch.no_grad():
        for m in enc.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        enc.train()
        enc(torch.cat([noise(7.0, seed=11), noise(7.0, seed=12, amp=0.02)]))
    return enc.eval()


@pytest.fixture(scope="module")
def state(ref):
    return {"model": {f"audio_encoder.{k}": v for k, v in ref.state_dict().items()}}


@pytest.fixture(scope="module")
def ours(state, tmp_path_factory):
    path = tmp_path_factory.mktemp("msclap23") / "CLAP_weights_2023.pth"
    torch.save(state, path)
    return MsClapAudioEncoder.from_path(path)


def ref_embed(ref, x):
    with torch.no_grad():
        e = ref(x)[0]
    return e / torch.norm(e, dim=-1, keepdim=True)


def test_seven_second_clip_matches_msclap(ref, ours):
    assert ours.model_id == "msclap-2023" and ours.embed_dim == 1024 and V.clip_samples == N
    x = noise(7.0, seed=3)
    want = ref_embed(ref, x)
    torch.testing.assert_close(ours.encode(x, SR), want, atol=1e-5, rtol=1e-4)
    assert (want - ref_embed(ref, noise(7.0, seed=5, amp=0.02))).abs().max() > 1e-2  # not a trivial parity


def test_front_end_is_recomputed_for_32k_mel(ref, state):
    sd = ref.state_dict()
    torch.testing.assert_close(slaney_mel_filters(32_000, 1024, 64, 50, 14_000), sd["base.htsat.logmel_extractor.melW"],
                               atol=1e-7, rtol=1e-5)
    bare = {"model": {k: v for k, v in state["model"].items() if "extractor" not in k}}
    enc = MsClapAudioEncoder.from_checkpoint(bare)
    x = noise(2.0, seed=6)
    tiled = x.repeat(1, math.ceil(N / x.shape[1]))[:, :N]  # CLAPWrapper's short-clip rule
    torch.testing.assert_close(enc.encode(x, SR), ref_embed(ref, tiled), atol=1e-5, rtol=1e-4)


def test_long_clip_mean_of_7s_windows(ref, ours):
    x = torch.cat([noise(7.0, seed=7), noise(3.0, seed=8, amp=0.05)], dim=-1)
    per = ours.encode(x, SR, pooling="none")
    assert per.shape == (1, 2, 1024)
    torch.testing.assert_close(per[0, 0], ref_embed(ref, x[:, :N])[0], atol=1e-5, rtol=1e-4)


def test_wrong_htsat_tensor_is_named(state):
    bad = {"model": dict(state["model"])}
    bad["model"]["audio_encoder.base.htsat.layers.1.blocks.0.mlp.fc1.weight"] = torch.zeros(10, 192)
    with pytest.raises(ClapModelError, match=r"as msclap-2023: .*audio_encoder\.base\.htsat\.layers\.1\.blocks\.0\."
                                             r"mlp\.fc1\.weight has shape \[10, 192\], expected \[768, 192\]"):
        read_msclap_audio(bad, name="CLAP_weights_2023.pth")
    assert read_msclap_audio(state)[0].version == "2023"
    with pytest.raises(ClapModelError, match="fit no supported variant"):
        read_msclap_audio(state, version="2022")
