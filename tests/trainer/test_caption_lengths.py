"""Captions of several lengths (Qwen-Image's and Z-Image's text encoders do not pad; a CLIP prompt over 77 tokens
takes a second chunk): the cache stores each at its own length, a batch pads them and says how long each is, and the
loss of a mixed batch is the mean of each row's loss at its own length, the empty caption's where a caption is
dropped — what the nodes would run for each. The tiny Qwen-Image (ComfyUI's own class) trains on such a cache."""
import pytest
import torch

from toy import task as S
from training.cache import CacheWriter
from training.cache_reader import load_cache

CLAP_DIM, TEXT_DIM = 16, 32
LENGTHS = (3, 5, 3, 7)          # the samples' caption lengths; the empty caption has 2 tokens


def _caption(length: int, seed: int) -> torch.Tensor:
    return torch.randn(length, TEXT_DIM, generator=torch.Generator().manual_seed(seed)) * 0.5


def _write(cache, t: S.Task, n: int = 8):
    labels = [i % S.N_CLASSES for i in range(n)]
    x0 = S.latents(labels, t, seed=1)
    embeds = S.fake_embed(labels, CLAP_DIM, seed=2)
    w = CacheWriter(cache, {"kind": "synthetic", "latent_space": "model", "clap_model_id": "stand-in",
                            "clap_dim": CLAP_DIM, "context_dim": TEXT_DIM, "latent": list(x0.shape[1:])}, shard_size=3)
    for i in range(n):
        length = LENGTHS[i % len(LENGTHS)]
        w.add(f"s{i:03d}", "synthetic", clap=embeds[i], latent=x0[i], text=_caption(length, length),
              label=str(labels[i]))
    w.set_null_text(_caption(2, 99))
    w.close()
    return cache


@pytest.fixture(scope="module")
def qwen_task():
    return S.Task(channels=16, context_dim=TEXT_DIM)


def test_the_cache_keeps_each_caption_at_its_length_and_pads_a_batch(tmp_path, qwen_task):
    cache = load_cache(_write(tmp_path / "cache", qwen_task))
    assert cache.text_lengths == [3, 5, 7] and cache.text_shape == (7, TEXT_DIM)
    b = cache.batch(torch.tensor([0, 1, 3]))
    assert b["text"].shape == (3, 7, TEXT_DIM) and b["text_len"].tolist() == [3, 5, 7]
    for row, length in enumerate((3, 5, 7)):
        torch.testing.assert_close(b["text"][row, :length], _caption(length, length).half().float())
        assert not b["text"][row, length:].any()          # zero padding, never read (the loss slices it off)
    assert cache.null_text.shape == (2, TEXT_DIM)


def test_a_mixed_batch_loss_is_the_mean_of_each_rows_own_loss(comfy_root, monkeypatch):
    """Rows of lengths 3, 5 and a dropped caption (the empty one, 2 tokens) in one batch: the model is called once
    per length with exactly those tokens (padding never reaches it), and the loss is the mean of the three
    single-row losses, each run unpadded."""
    from c2d_core.config import AdapterConfig
    from c2d_core.factory import new_adapter
    from c2d_core.families import family_layout
    from training import objective
    from training.objective import Noise, diffusion_loss
    from training.tiny_dit import build_dit

    model = build_dit("qwen_image", seed=0)
    blocks, width = family_layout("qwen_image").discover(model.diffusion_model)
    adapter = new_adapter(AdapterConfig(clap_dim=CLAP_DIM, context_dim=width, base_family="qwen_image",
                                        blocks=blocks, gate_init=0.5, hidden_dim=16), seed=3)
    g = torch.Generator().manual_seed(0)
    B = 3
    x0, noise = torch.randn(B, 16, 8, 8, generator=g), torch.randn(B, 16, 8, 8, generator=g)
    clap = torch.nn.functional.normalize(torch.randn(B, CLAP_DIM, generator=g), dim=-1)
    lengths = torch.tensor([3, 5, 5])
    context = torch.zeros(B, 5, TEXT_DIM)
    for i, n in enumerate(lengths.tolist()):
        context[i, :n] = _caption(n, 10 + i)
    null = _caption(2, 99)
    rnd = Noise(noise=noise, t=torch.tensor([100, 500, 900]), null_audio=torch.tensor([False, True, False]),
                null_text=torch.tensor([False, False, True]))
    calls, predict = [], objective.predict_dit

    def recording(base_model, adapter, x, sigma, ctx, *args, **kw):
        calls.append((x.shape[0], ctx.clone()))
        return predict(base_model, adapter, x, sigma, ctx, *args, **kw)

    monkeypatch.setattr(objective, "predict_dit", recording)
    with torch.no_grad():
        mixed = diffusion_loss(model, adapter, x0, context, null, clap, rnd, context_len=lengths)
        seen = list(calls)
        rows = []
        for i in range(B):
            one = Noise(*(getattr(rnd, f)[i:i + 1] for f in ("noise", "t", "null_audio", "null_text")))
            own = context[i:i + 1, :int(lengths[i])]
            rows.append(diffusion_loss(model, adapter, x0[i:i + 1], own, null, clap[i:i + 1], one))
    assert [(n, tuple(c.shape[1:])) for n, c in seen] == [(1, (2, TEXT_DIM)), (1, (3, TEXT_DIM)), (1, (5, TEXT_DIM))]
    assert torch.equal(seen[0][1][0], null) and torch.equal(seen[1][1][0], context[0, :3])
    torch.testing.assert_close(mixed, torch.stack(rows).mean(), rtol=1e-6, atol=0)


def test_the_tiny_qwen_image_trains_on_captions_of_several_lengths(tmp_path, qwen_task, comfy_root):
    from toy import flux as X
    from training.loop import train

    cache = _write(tmp_path / "cache", qwen_task)
    cfg = X.task_config(tmp_path / "run", cache, qwen_task, steps=(2, 0, 0), batch=4, lr=1e-2, overrides={
        "model.tiny_dit.family": "qwen_image", "model.tiny_weights": "", "adapter.clap_dim": CLAP_DIM,
        "data.val_fraction": 0.25, "train.warmup_steps": 0, "train.log_every": 1, "train.text_dropout": 0.5,
        "train.val_every": 1})
    result = train(cfg)
    assert result.step == 2 and result.val_loss is not None and torch.isfinite(torch.tensor(result.val_loss))


def test_evaluate_samples_each_caption_at_its_length(tmp_path, qwen_task, comfy_root, monkeypatch):
    """evaluate's sampling with text + audio guidance: each cond row at its caption's length, the uncond rows at the
    empty caption's (two model calls where they differ, as ComfyUI runs conds of different shapes)."""
    import dataclasses
    import math

    import training.sampling
    from toy import flux as X
    from toy.task import latent_to_rgb
    from training.evaluate import evaluate
    from training.loop import train

    cache = _write(tmp_path / "cache", qwen_task)
    cfg = X.task_config(tmp_path / "run", cache, qwen_task, steps=(1, 0, 0), batch=4, lr=1e-2, overrides={
        "model.tiny_dit.family": "qwen_image", "model.tiny_weights": "", "adapter.clap_dim": CLAP_DIM,
        "data.val_fraction": 0.5, "train.warmup_steps": 0})
    train(cfg)
    cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, sample_steps=2, guidance="text+audio"))
    seen, real = [], training.sampling._output

    def spy(base_model, adapter, xs, sigma, ctx, clap, strength, cond_or_uncond, *args):
        seen.append((tuple(cond_or_uncond), ctx.shape[1]))
        return real(base_model, adapter, xs, sigma, ctx, clap, strength, cond_or_uncond, *args)

    monkeypatch.setattr(training.sampling, "_output", spy)
    scores = evaluate(cfg, adapter_path=str(tmp_path / "run" / "adapter.safetensors"), decode=latent_to_rgb)
    assert math.isfinite(scores["loss_audio"]) and math.isfinite(scores["loss_shuffled"])
    assert {length for kind, length in seen if kind == (1,)} == {2}               # the empty caption
    assert {length for kind, length in seen if kind == (0,)} <= {3, 5, 7}
    assert len({length for kind, length in seen if kind == (0,)}) > 1             # several lengths were sampled
