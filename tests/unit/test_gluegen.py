"""GlueGen: AudioCLIP's audio tower and the sound GlueNet against their own code (tests/unit/gluegen_reference,
copied from AndreyGuzhov/AudioCLIP (MIT) and salesforce/GlueGen (Apache-2.0)) on random weights in the released
files' layouts, read through the pack's readers; GlueGen's audio preparation and sound + text mix; bad files.

Their tower is built with random BatchNorm statistics calibrated on a clip, so no attention gate saturates (a wrong
gate would show); building it takes ~10 s, so one module-scoped pair serves every test."""
import numpy as np
import pytest
import torch

from c2d_core.audioclip.encoder import gluegen_clip
from c2d_core.encoder_registry import load_audio_encoder
from c2d_core.errors import ClapModelError, UnsupportedModelError
from c2d_core.gluegen.condition import load_gluenet, mix_with_text, sound_condition
from c2d_core.torch_files import read_checkpoint
from devtools.demo_audio import synth
from gluegen_reference.reference import (audioclip_file_state, their_audio_tower, their_condition, their_prepare,
                                         their_text_mix, their_translator)

RATE = 44_100


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tower, translator = their_audio_tower(seed=0), their_translator(seed=1)
    folder = tmp_path_factory.mktemp("gluegen")
    torch.save(audioclip_file_state(tower), folder / "AudioCLIP-Full-Training.pt")
    torch.save(translator.state_dict(), folder / "gluenet_sound2img_audioclip_us8k.ckpt")
    encoder = load_audio_encoder(folder / "AudioCLIP-Full-Training.pt")
    gluenet = load_gluenet(read_checkpoint(folder / "gluenet_sound2img_audioclip_us8k.ckpt", what="t",
                                           error=ClapModelError, unsafe_advice=""))
    return tower, translator, encoder, gluenet, folder


def test_gluegen_audio_preparation_matches_their_loader():
    """Short (centred, padded with the edge values), exact and long (first 4 s) clips, after resampling."""
    for seconds in (1.5, 4.0, 5.5):
        mono = synth("chirp", seconds, rate=RATE, channels=1, seed=3)[0]
        torch.testing.assert_close(gluegen_clip(torch.from_numpy(mono), 176_400), their_prepare(mono[None]),
                                   rtol=1e-6, atol=0.02)  # int16 scale: |x| ≤ 32768


def test_sound_condition_matches_gluegen(pair):
    tower, translator, encoder, gluenet, _ = pair
    clips = [synth("rain", 3.0, rate=RATE, channels=1, seed=1)[0], synth("chirp", 4.5, rate=RATE, channels=1, seed=2)[0]]
    theirs = torch.cat([their_condition(tower, translator, their_prepare(c[None])[None]) for c in clips])
    wave = torch.zeros(2, 1, int(4.5 * RATE))
    wave[0, 0, :len(clips[0])] = torch.from_numpy(clips[0])     # the batch is padded: cut back to each clip below
    wave[1, 0] = torch.from_numpy(clips[1])
    ours = torch.cat([sound_condition(encoder, gluenet, wave[i:i + 1, :, :len(c)], RATE) for i, c in enumerate(clips)])
    assert ours.shape == (2, 77, 768)
    scale = float(theirs.abs().max())
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * scale)
    assert (ours[0] - ours[1]).abs().max() > 1e-2 * scale                    # the sound decides
    emb = encoder.encode(wave[1:, :, :4 * RATE], RATE)
    assert emb.shape == (1, 1024) and torch.allclose(emb.norm(dim=-1), torch.tensor(1.0))


def test_text_mix_matches_their_script():
    g = torch.Generator().manual_seed(0)
    sound, text = torch.randn(2, 77, 768, generator=g), torch.randn(1, 77, 768, generator=g)
    for i in range(3, 8):
        torch.testing.assert_close(mix_with_text(sound, text, i), their_text_mix(sound, text.expand(2, -1, -1), i))
    with pytest.raises(UnsupportedModelError, match=r"shape \(1, 77, 2048\).*SD1.x checkpoint's CLIP"):
        mix_with_text(sound, torch.zeros(1, 77, 2048), 5)


def test_bad_files_are_named(pair, tmp_path):
    tower, translator, encoder, _, folder = pair
    state = translator.state_dict()
    del state["tail_2.net_sen.4.weight"]
    with pytest.raises(ClapModelError, match=r"tail_2.net_sen.4.weight is missing \(expected shape \[768, 3072\]\)"):
        load_gluenet(state, "gluenet.ckpt")
    audio = {k: v for k, v in audioclip_file_state(tower).items() if k != "audio.att5.bn.running_var"}
    torch.save(audio, tmp_path / "AudioCLIP-Partial.pt")
    with pytest.raises(ClapModelError, match=r"audio.att5.bn.running_var is missing"):
        load_audio_encoder(tmp_path / "AudioCLIP-Partial.pt")
    torch.save({"model": translator, "x": np.float64(1)}, tmp_path / "pickled.ckpt")
    with pytest.raises(ClapModelError, match="needs unsafe unpickling"):
        read_checkpoint(tmp_path / "pickled.ckpt", what="GlueGen's sound GlueNet", error=ClapModelError,
                        unsafe_advice="x")
    beats_like = type("Enc", (), {"family": "BEATs", "model_id": "BEATs_iter3.pt"})()
    with pytest.raises(ClapModelError, match="trained on AudioCLIP's audio embeddings.*BEATs_iter3.pt"):
        sound_condition(beats_like, None, torch.zeros(1, 1, RATE), RATE)
    with pytest.raises(Exception, match="constant"):
        gluegen_clip(torch.zeros(RATE), 176_400)


def test_speech_at_22k_matches_gluegen(pair):
    """A spoken sentence at espeak-ng's 22.05 kHz: resampled to 44.1 kHz by the pack (their loader uses librosa's
    resampler; the comparison starts after resampling), then their loader's steps and their model."""
    from c2d_core.audio import prepare_waveform
    from helpers import speech
    tower, translator, encoder, gluenet, _ = pair
    pcm, rate = speech()
    mono44 = prepare_waveform(torch.from_numpy(pcm), rate, RATE)                     # (1, T) at 44.1 kHz
    theirs = their_condition(tower, translator, their_prepare(mono44.numpy())[None])
    ours = sound_condition(encoder, gluenet, torch.from_numpy(pcm), rate)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * float(theirs.abs().max()))
