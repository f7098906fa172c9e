"""Frame-local audio on a video family (Wan): each latent frame's tokens hear only the video frames it encodes."""
import pytest
import torch

from c2d_core.config import AdapterConfig, BlockSpec
from c2d_core.errors import AudioInputError, UnsupportedModelError
from c2d_core.factory import new_adapter
from c2d_core.frame_audio import frame_windows
from c2d_core.patch import AudioAttentionPatch

BLOCK = (BlockSpec("double_0", 64, 2, 32),)   # wide enough that inference folds K/V into W_q / W_out
T, S = 3, 4            # latent frames, tokens per latent frame
FRAMES = 4 * (T - 1) + 1


def _adapter():
    return new_adapter(AdapterConfig(clap_dim=16, context_dim=8, hidden_dim=8, gate_init=0.5, base_family="wan",
                                     blocks=BLOCK), seed=0)


def _branch(adapter, embeds, options=None, **kw):
    opts = {"grid_sizes": (T, 2, 2), "cond_or_uncond": [0, 1], **(options or {})}
    x = torch.randn(2, T * S, 64, generator=torch.Generator().manual_seed(1))
    return AudioAttentionPatch(adapter, embeds, **kw).branch(x, opts, "double_0")


def test_windows_follow_wans_vae():
    from c2d_core.patch import _InferencePath
    assert _InferencePath.folds(_adapter().blocks["double_0"], 8)   # the inference runs below use folded K/V
    assert frame_windows(3, 4).tolist() == [[0, 0, 0, 0], [1, 2, 3, 4], [5, 6, 7, 8]]


@pytest.mark.parametrize("train", [False, True], ids=["inference", "training"])
def test_each_latent_frame_hears_only_its_own_frames(train):
    adapter = _adapter()
    g = torch.Generator().manual_seed(2)
    embeds = torch.randn(FRAMES, 16, generator=g)
    base = _branch(adapter, embeds, train=train)
    changed = embeds.clone()
    changed[5:9] = torch.randn(4, 16, generator=g)                  # the sound of video frames 5-8 = latent frame 2
    other = _branch(adapter, changed, train=train)
    frames = (other - base).abs().view(2, T, S, 64).amax(dim=(2, 3))  # (rows, latent frames)
    assert frames[0, 2] > 1e-4 and torch.all(frames[0, :2] == 0)    # the cond row: only latent frame 2 changes
    assert torch.all(frames[1] == 0)                                # the uncond row hears the null tokens only
    # one sound on every frame = that sound for the whole clip (identical keys repeated: the same attention)
    same = _branch(adapter, embeds[:1].expand(FRAMES, -1), train=train)
    torch.testing.assert_close(same, _branch(adapter, embeds[:1], train=train), rtol=1e-5, atol=1e-6)


def test_loudness_schedule_is_per_latent_frame():
    adapter = _adapter()
    embeds = torch.randn(FRAMES, 16, generator=torch.Generator().manual_seed(3))
    schedule = [1.0] + [0.0] * 4 + [0.5] * 4                       # loud, silent, half
    ratio = (_branch(adapter, embeds, image_weights=schedule) / _branch(adapter, embeds)).view(2, T, S, 64)
    torch.testing.assert_close(ratio[0].amax(dim=(1, 2)), torch.tensor([1.0, 0.0, 0.5]))


def test_per_frame_keys_and_values_are_not_kept_between_calls():
    """40 blocks × every video frame's K/V would outgrow the video's own tokens: each call projects them anew."""
    patch = AudioAttentionPatch(_adapter(), torch.randn(FRAMES, 16))
    patch.branch(torch.randn(1, T * S, 64), {"grid_sizes": (T, 2, 2), "cond_or_uncond": [0]}, "double_0")
    assert patch.kv_cache_bytes() == 0
    one = AudioAttentionPatch(_adapter(), torch.randn(1, 16))
    one.branch(torch.randn(1, T * S, 64), {"grid_sizes": (T, 2, 2), "cond_or_uncond": [0]}, "double_0")
    assert one.kv_cache_bytes() > 0                                 # one clip: cached once per run, as on images


def test_wrong_frame_count_and_a_host_without_frame_counts_are_clear_errors():
    adapter = _adapter()
    with pytest.raises(AudioInputError, match=r"has 7 per-frame embeddings but this video has 9 frames \(3 latent"):
        _branch(adapter, torch.randn(7, 16))
    with pytest.raises(UnsupportedModelError, match="needs the latent frame count.*ComfyUI 0.33"):
        _branch(adapter, torch.randn(FRAMES, 16), options={"grid_sizes": None})
    # Wan with a reference image: its 2×3 tokens ride in front of the video's 3 × 2×3, and 24 tokens would split
    # evenly into 3 "frames" that are not the video's
    referenced = torch.randn(1, (T + 1) * 6, 64)
    with pytest.raises(UnsupportedModelError, match=r"carries 24 tokens but its video grid \(3, 2, 3\) has 18"):
        AudioAttentionPatch(adapter, torch.randn(FRAMES, 16)).branch(
            referenced, {"grid_sizes": (T, 2, 3), "cond_or_uncond": [0]}, "double_0")


def test_a_context_window_hears_its_own_part_of_the_timeline():
    """ComfyUI sampling a long clip in context windows calls the model on latent frames 1-2 of 3: those rows get
    exactly what the whole-clip call gives them."""
    from types import SimpleNamespace

    adapter = _adapter()
    embeds = torch.randn(FRAMES, 16, generator=torch.Generator().manual_seed(4))
    x = torch.randn(1, T * S, 64, generator=torch.Generator().manual_seed(5))
    patch = AudioAttentionPatch(adapter, embeds)
    whole = patch.branch(x, {"grid_sizes": (T, 2, 2), "cond_or_uncond": [0]}, "double_0")
    window = SimpleNamespace(index_list=[1, 2], total_frames=T)
    part = patch.branch(x[:, S:], {"grid_sizes": (2, 2, 2), "cond_or_uncond": [0], "context_window": window},
                        "double_0")
    torch.testing.assert_close(part, whole[:, S:], rtol=1e-5, atol=1e-6)


def test_one_timeline_per_video_and_audio_dropout_per_video():
    """Training batches several videos, each with its own timeline (videos × frames embeddings): each video's rows
    hear their own timeline, and null_rows drops a whole video's audio (null tokens in every latent frame)."""
    adapter = _adapter()
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(FRAMES, 16, generator=g), torch.randn(FRAMES, 16, generator=g)
    opts = {"grid_sizes": (T, 2, 2), "cond_or_uncond": [0]}
    x = torch.randn(2, T * S, 64, generator=torch.Generator().manual_seed(1))

    def run(embeds, **kw):
        return AudioAttentionPatch(adapter, embeds, train=True, **kw).branch(x, opts, "double_0")

    both = run(torch.cat([a, b]))
    torch.testing.assert_close(both[0], run(a)[0], rtol=1e-5, atol=1e-6)     # video 0 hears timeline a
    torch.testing.assert_close(both[1], run(b)[1], rtol=1e-5, atol=1e-6)     # video 1 hears timeline b
    dropped = run(torch.cat([a, b]), null_rows=torch.tensor([False, True]))
    torch.testing.assert_close(dropped[0], both[0], rtol=1e-5, atol=1e-6)
    null = run(torch.cat([a, b]), null_rows=torch.tensor([True, True]))
    torch.testing.assert_close(dropped[1], null[1], rtol=1e-5, atol=1e-6)
    assert (dropped[1] - both[1]).abs().max() > 1e-4
    # cond + uncond with video 0 dropped: the null rows (0, 2, 3) are not adjacent, each keeps its own place
    mixed = AudioAttentionPatch(adapter, torch.cat([a, b]), train=True, null_rows=torch.tensor([True, False])).branch(
        torch.cat([x, x]), {**opts, "cond_or_uncond": [0, 1]}, "double_0")
    torch.testing.assert_close(mixed[:2], run(torch.cat([a, b]), null_rows=torch.tensor([True, False])),
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mixed[2:], null, rtol=1e-5, atol=1e-6)
    with pytest.raises(AudioInputError, match=r"the audio has 27 per-frame embeddings but this video has 9 frames"):
        run(torch.cat([a, b, a]))                                            # 3 timelines for 2 videos


def test_a_context_window_projects_only_its_own_frames():
    """A call that holds latent frames 1-2 of a 3-latent-frame clip (a context window) projects the tokens of video
    frames 1-8 only, not the whole timeline, and gives what the whole clip's call gives on those frames."""
    from types import SimpleNamespace

    adapter = _adapter()
    embeds = torch.randn(FRAMES, 16, generator=torch.Generator().manual_seed(5))
    projected = []
    tokens = adapter.tokens
    adapter.tokens = lambda e: (projected.append(e.shape[0]), tokens(e))[1]
    g = torch.Generator().manual_seed(6)
    whole_x = torch.randn(2, T * S, 64, generator=g)
    window = SimpleNamespace(index_list=[1, 2], total_frames=T)
    opts = {"grid_sizes": (2, 2, 2), "cond_or_uncond": [0, 1], "context_window": window}
    part = AudioAttentionPatch(adapter, embeds).branch(whole_x[:, S:], opts, "double_0")
    assert projected == [8]
    whole = AudioAttentionPatch(adapter, embeds).branch(whole_x, {"grid_sizes": (T, 2, 2), "cond_or_uncond": [0, 1]},
                                                         "double_0")
    torch.testing.assert_close(part, whole[:, S:], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("train", [False, True], ids=["inference", "training"])
def test_an_uncond_call_hears_the_null_row_and_projects_no_audio(train):
    """ComfyUI runs cond and uncond as separate calls when memory is short: the uncond call gives its rows what the
    batched call gives them, without projecting the timeline."""
    adapter = _adapter()
    embeds = torch.randn(FRAMES, 16, generator=torch.Generator().manual_seed(4))
    x = torch.randn(2, T * S, 64, generator=torch.Generator().manual_seed(5))
    patch = AudioAttentionPatch(adapter, embeds, train=train)
    batched = patch.branch(x, {"grid_sizes": (T, 2, 2), "cond_or_uncond": [0, 1]}, "double_0")
    projected = []
    adapter.projector.register_forward_pre_hook(lambda module, args: projected.append(args[0].shape[0]))
    alone = patch.branch(x[1:], {"grid_sizes": (T, 2, 2), "cond_or_uncond": [1]}, "double_0")
    torch.testing.assert_close(alone[0], batched[1], rtol=1e-5, atol=1e-6)
    assert (batched[1].abs() > 1e-4).any()            # the null row's branch is not zero
    assert sum(projected) == 0
    cond = patch.branch(x[:1], {"grid_sizes": (T, 2, 2), "cond_or_uncond": [0]}, "double_0")
    torch.testing.assert_close(cond[0], batched[0], rtol=1e-5, atol=1e-6)
    assert sum(projected) == (0 if train else FRAMES)   # training projects the timeline once, when it builds the patch
