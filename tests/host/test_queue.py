"""Queued prompts in one running ComfyUI executor: no stale audio tokens, no cross-talk, no growth.

Eight prompts (two rounds of four settings that alternate sound, adapter and strength) go through ONE
PromptExecutor whose caches persist between prompts, as in the app. Each output must equal, bit for bit,
the same settings run alone in a fresh executor; strength 0 must equal the unpatched model; the second
round must not hold more memory or patch objects than the first. The 50-prompt version, also against the
real server, is benchmarks/bench_queue.py.
"""
import ctypes
import gc

import psutil
import pytest
import torch

from devtools.comfy_host import release_memory

CLAP = "c2d-queue-clap"
SEED = 5
RSS_BOUND_MIB = 64  # a leaked UNet clone (~3.3 GB), CLAP (~60 MB) or adapter per prompt would exceed it
# one round: audio changes at every step, the adapter every other one, strength 0 in the middle;
# round 2 repeats it, so (chirp, a, 1) → (rain, a, 1) changes only the sound between queued prompts.
ROUND = [("rain.wav", "a", 1.0), ("chirp.wav", "b", 0.5), ("rain.wav", "b", 0.0), ("chirp.wav", "a", 1.0)]


@pytest.fixture(scope="module", autouse=True)
def _drop_shared_cache(comfy_host):
    comfy_host.clear_cache()
    yield
    comfy_host.clear_cache()


@pytest.fixture(scope="module")
def queue_assets(host_assets, standins):
    host_assets.clap(CLAP, seed=3)
    for name, seed in (("a", 1), ("b", 2)):
        host_assets.adapter(f"queue_{name}.safetensors", seed=seed, gate_init=0.5)
    for name, kind in (("rain.wav", "rain"), ("chirp.wav", "chirp")):
        host_assets.audio(f"queue_{name}", kind, 2.0, channels=2)
    return standins["sd15"]


def graph(ckpt, setting=None):
    """checkpoint → (audio → CLAP → adapter → apply) → KSampler "5" (64×64, 1 step, CFG) → SaveLatent;
    None: unpatched."""
    p = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a harbour", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["14", 0] if setting else ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
            "latent_image": ["4", 0], "seed": SEED, "steps": 1, "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "queue"}},
    }
    if setting:
        audio, adapter, strength = setting
        p.update({
            "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": f"queue_{audio}"}},
            "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": CLAP}},
            "12": {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}},
            "13": {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": f"queue_{adapter}.safetensors"}},
            "14": {"class_type": "C2DApplyAudioAdapter", "inputs": {
                "model": ["1", 0], "adapter": ["13", 0], "embeds": ["12", 0], "strength": strength,
                "start_percent": 0.0, "end_percent": 1.0}},
        })
    return p


def _live() -> tuple[int, int]:
    """(AudioAttentionPatch, AudioAdapter) objects alive after a garbage collection. ComfyUI imports the pack
    under its own module name, so the classes are matched by name."""
    release_memory()
    names = [type(o).__name__ for o in gc.get_objects()]
    return names.count("AudioAttentionPatch"), names.count("AudioAdapter")


def _rss_mib() -> float:
    """Resident memory after glibc hands freed heap back to the OS (host.run collects garbage before each run)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
    return psutil.Process().memory_info().rss / 2**20


def test_queued_prompts_match_fresh_runs_without_growth(comfy_host, queue_assets):
    ckpt = queue_assets
    before = _live()
    outputs, rss, live = [], [], []
    for i, setting in enumerate(ROUND + ROUND):
        result = comfy_host.run(graph(ckpt, setting), fresh=False)
        assert "5" not in result["cached"], f"{setting}: the sampler was served from the cache, nothing was tested"
        outputs.append(result["outputs"]["5"][0]["samples"].clone())
        del result
        rss.append(_rss_mib())
        if i % len(ROUND) == len(ROUND) - 1:
            live.append(_live())  # after each round

    # the same settings, each alone in a fresh executor (empty caches: nothing stale to reuse)
    fresh = {s: comfy_host.run(graph(ckpt, s))["outputs"]["5"][0]["samples"] for s in ROUND if s[2] > 0}
    base = comfy_host.run(graph(ckpt))["outputs"]["5"][0]["samples"]
    for i, (setting, out) in enumerate(zip(ROUND + ROUND, outputs)):
        want = fresh[setting] if setting[2] > 0 else base
        assert torch.equal(out, want), (f"queued prompt {i} {setting} differs from its fresh run by "
                                        f"{(out - want).abs().max().item():.3g}: stale tokens or cross-talk")
    # the audio matters (else equality above would prove nothing): sound, adapter and strength all change it
    assert not torch.equal(fresh[ROUND[0]], fresh[ROUND[3]]), "rain and chirp gave the same image"
    assert not torch.equal(fresh[ROUND[0]], base), "the adapter at strength 1 left the model unchanged"
    assert not torch.equal(fresh[ROUND[1]], fresh[ROUND[3]]), "adapter b at 0.5 equals adapter a at 1"

    # memory: round 2 holds no more than round 1 did
    growth = rss[-1] - rss[len(ROUND) - 1]
    assert growth < RSS_BOUND_MIB, (f"RSS grew by {growth:.0f} MiB over the second round of queued prompts "
                                    f"(per prompt: {', '.join(f'{r:.0f}' for r in rss)} MiB)")
    assert live[1] <= live[0], f"patch/adapter objects accumulate: {live[0]} after round 1, {live[1]} after round 2"
    comfy_host.clear_cache()
    assert _live() == before, "patch or adapter objects outlive the executor cache that held them"
