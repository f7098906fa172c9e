"""AudioToken: BEATs and the FGA embedder against AudioToken's own code (tests/unit/audiotoken_reference) on random
weights in the released files' layouts, read through the pack's readers; the prompt placeholder; bad files."""
import numpy as np
import pytest
import torch

from audiotoken_files import beats_file, their_beats, their_embedder, their_features, their_token
from c2d_core.audiotoken.embedder import load_embedder
from c2d_core.audiotoken.prompt import check_prompt, mark_prompt, splice
from c2d_core.audiotoken.token import CLIP_SECONDS, FEATURE_LAYERS, audio_tokens, loop_to_length
from c2d_core.encoder_registry import load_audio_encoder
from c2d_core.errors import ClapModelError, SoundPromptError
from c2d_core.torch_files import read_checkpoint
from devtools.demo_audio import synth

RATE = 16_000


@pytest.fixture(scope="module")
def beats(tmp_path_factory):
    model = their_beats()
    path = beats_file(tmp_path_factory.mktemp("beats") / "BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt", model)
    return model, load_audio_encoder(path)


@pytest.fixture(scope="module")
def embedder_pair(tmp_path_factory):
    theirs = their_embedder()
    path = tmp_path_factory.mktemp("audiotoken") / "embedder_learned_embeds.bin"
    torch.save(theirs.state_dict(), path)
    return theirs, path


def _clips(seconds=10.0, kinds=("rain", "chirp")):
    return torch.stack([torch.from_numpy(synth(k, seconds, rate=RATE, channels=1, seed=i)[0])
                        for i, k in enumerate(kinds)])


def test_beats_layer_features_match_beats_code(beats):
    theirs, ours = beats
    assert ours.family == "BEATs" and ours.cfg.finetuned_model and ours.embed_dim == 768
    clips = _clips()
    want = their_features(theirs, clips)                                   # (2, 496, 2304)
    got = ours.layer_features(clips, FEATURE_LAYERS)
    assert got.shape == want.shape == (2, 496, 2304)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=3e-5)  # measured max 4e-6
    assert (got[0] - got[1]).abs().mean() > 0.05  # different sounds, different features


def test_audio_token_matches_audiotoken_code(beats, embedder_pair, monkeypatch):
    """Whole path on a 3 s clip (looped to 10 s as AudioToken's loader does); their unary dropout is random, ours off."""
    theirs_beats, encoder = beats
    theirs_emb, path = embedder_pair
    embedder = load_embedder(read_checkpoint(path, what="t", error=ClapModelError, unsafe_advice=""), path.name)
    short = _clips(3.0)
    looped = torch.tile(short, (1, 10))[:, :RATE * CLIP_SECONDS]                    # their aud_proc_beats
    want = their_token(theirs_beats, theirs_emb, looped, monkeypatch)
    got = audio_tokens(encoder, embedder, short[:, None], RATE)                      # (B, 1, T) as ComfyUI AUDIO
    assert got.shape == (2, 768)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # their code as released: F.dropout(p=0.5) stays on in eval, so its token is random
        a, b = (theirs_emb(their_features(theirs_beats, looped)) for _ in range(2))
    assert not torch.equal(a, b)


def test_loop_to_length_tiles_like_audiotoken():
    x = torch.arange(7.0)[None]
    assert torch.equal(loop_to_length(x, 16), torch.tile(x, (1, 10))[:, :16])
    assert torch.equal(loop_to_length(torch.arange(20.0)[None], 16), torch.arange(16.0)[None])


def test_beats_of_another_variant_is_refused_for_audiotoken(tmp_path, embedder_pair):
    pretrained = their_beats(finetuned_model=False, encoder_layers=2)
    encoder = load_audio_encoder(beats_file(tmp_path / "BEATs_iter3.pt", pretrained))
    embedder = their_embedder()
    from c2d_core.audiotoken.token import check_pair
    ours = load_embedder(embedder.state_dict())
    with pytest.raises(ClapModelError, match="pre-trained only.*BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt"):
        check_pair(encoder, ours)


def test_beats_file_with_a_missing_tensor_names_it(tmp_path):
    model = their_beats(encoder_layers=2)
    obj = {"cfg": dict(model.cfg.__dict__), "model": model.state_dict()}
    del obj["model"]["encoder.layers.1.fc2.weight"]
    torch.save(obj, tmp_path / "beats.pt")
    with pytest.raises(ClapModelError, match=r"encoder.layers.1.fc2.weight is missing \(expected shape \[768, 3072\]"):
        load_audio_encoder(tmp_path / "beats.pt")


def test_embedder_missing_tensor_and_unsafe_pickle(tmp_path, embedder_pair):
    theirs, _ = embedder_pair
    state = theirs.state_dict()
    del state["fga.reduce_potentials.0.weight"]
    with pytest.raises(ClapModelError, match=r"fga.reduce_potentials.0.weight is missing.*embedder_learned_embeds"):
        load_embedder(state, "embedder_learned_embeds.bin")
    torch.save({"embedder": theirs, "note": np.float64(1.0)}, tmp_path / "pickled.bin")  # a whole module: unsafe
    with pytest.raises(ClapModelError, match="needs unsafe unpickling"):
        read_checkpoint(tmp_path / "pickled.bin", what="AudioToken's embedder", error=ClapModelError,
                        unsafe_advice="x")


def _toy_tokenize(text):
    """A CLIP-like tokenizer: start 0, words → ids, end 1, pad 1 to 8; 'ohwx' is two tokens here."""
    vocab = {"a": 10, "photo": 11, "of": 12, "sks": 13, ",": 14, "4k": 15, "ohwx": None}
    ids = []
    for w in text.replace(",", " , ").split():
        ids += [20, 21] if vocab.get(w, 99) is None else [vocab.get(w, 99)]
    ids = [0] + ids + [1]
    return [[(t, 1.0) for t in ids + [1] * (8 - len(ids))]]


def test_placeholder_becomes_one_token_slot():
    chunks, marker = mark_prompt(_toy_tokenize, "a photo of <audio>, 4k", "<audio>")
    assert marker == 13
    token = torch.ones(4)
    out = splice(chunks, marker, token)
    assert [t[0] for t in out[0]][:4] == [0, 10, 11, 12] and out[0][4][0] is token
    assert [t[0] for t in out[0]][5:] == [14, 15, 1]
    with pytest.raises(SoundPromptError, match='write it where the sound belongs, e.g. "a photo of <audio>'):
        check_prompt("a photo of a dog", "<audio>")
    # "sks" already in the prompt: the next single-token marker is used, "ohwx" (two tokens) is skipped
    chunks, marker = mark_prompt(_toy_tokenize, "sks <audio>", "<audio>")
    assert marker == 99 and [t[0] for t in chunks[0]][:4] == [0, 13, 99, 1]


def test_speech_at_22k_matches_audiotoken(beats, embedder_pair, monkeypatch):
    """A spoken sentence at espeak-ng's 22.05 kHz: the pack resamples to 16 kHz (AudioToken's code assumes 16 kHz
    files), so their path gets the same resampled clip; then loop, BEATs and the embedder as above."""
    from c2d_core.audio import prepare_waveform
    from helpers import speech
    theirs_beats, encoder = beats
    theirs_emb, _ = embedder_pair
    pcm, rate = speech()
    mono16 = prepare_waveform(torch.from_numpy(pcm), rate, RATE)                     # (1, T) at 16 kHz
    want = their_token(theirs_beats, theirs_emb, torch.tile(mono16, (1, 10))[:, :RATE * CLIP_SECONDS], monkeypatch)
    got = audio_tokens(encoder, load_embedder(theirs_emb.state_dict()), torch.from_numpy(pcm), rate)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
