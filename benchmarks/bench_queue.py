"""Robustness under use: many queued prompts in one running ComfyUI, alternating audio, adapter and strength.

Queues N prompts (default 50) at once into ONE ComfyUI process — by default the real server
(`main.py --cpu`, prompts POSTed to /prompt) with this pack in its custom_nodes/, or with `--mode inprocess`
the in-process executor of devtools.comfy_host — cycling through 3 sounds × 2 adapters (gate 0.5, so
audio matters) × strengths {0, 0.5, 1} on the random-weight SD1.5 stand-in (tiny latents, few steps).

Reports
  - memory: RSS of the ComfyUI process after prompt 1, after the first full cycle of combinations, the
    maximum and the last, growth in MiB and %, and the slope over the second half (MiB per prompt);
  - correctness: every queued output equals, bit for bit, the output of the same settings run alone in a
    FRESH executor (nothing cached: no stale audio tokens, no cross-talk between queued prompts); every
    strength-0 output equals the unpatched model; different sounds give different outputs;
  - with --mode inprocess also the live AudioAttentionPatch objects, their cached (folded) K/V and
    ComfyUI's loaded-model list after each prompt (they must not accumulate).

Usage: python -m benchmarks.bench_queue [--prompts 50] [--size 64] [--steps 2] [--mode server|inprocess] [--keep]
(on 2 CPU cores the default takes about 5 min, most of it the fresh reference runs).
"""
from __future__ import annotations

import argparse
import gc
import itertools
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ._host import CKPT, bench_host, make_workspace

log = logging.getLogger(__name__)

SOUNDS = {"rain.wav": ("rain", 3.0), "chirp.wav": ("chirp", 3.0), "tone.wav": ("tone", 3.0)}
ADAPTERS = ("a.safetensors", "b.safetensors")
STRENGTHS = (0.0, 0.5, 1.0)
SEED = 11


@dataclass(frozen=True)
class Combo:
    audio: str
    adapter: str
    strength: float

    def label(self) -> str:
        return f"{self.audio[:-4]}/{self.adapter[0]}/{self.strength:g}"


def combos() -> list[Combo]:
    """All 18 settings, ordered so that consecutive prompts differ (index i·7 mod 18: audio, adapter and
    strength all change often and every setting comes back after others ran)."""
    every = [Combo(*c) for c in itertools.product(SOUNDS, ADAPTERS, STRENGTHS)]
    return [every[(i * 7) % len(every)] for i in range(len(every))]


def graph(combo: Combo | None, size: int, steps: int, prefix: str = "q") -> dict:
    """API prompt: checkpoint → (audio → CLAP → adapter → apply) → KSampler "5" → SaveLatent "6".
    combo None: the unpatched model (no audio nodes at all)."""
    p = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a landscape", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["14", 0] if combo else ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
            "latent_image": ["4", 0], "seed": SEED, "steps": steps, "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": prefix}},
    }
    if combo:
        p.update({
            "10": {"class_type": "C2DLoadAudio", "inputs": {"audio": combo.audio}},
            "11": {"class_type": "C2DCLAPLoader", "inputs": {"clap_name": "clap"}},
            "12": {"class_type": "C2DCLAPEncode", "inputs": {"clap": ["11", 0], "audio": ["10", 0]}},
            "13": {"class_type": "C2DAudioAdapterLoader", "inputs": {"adapter_name": combo.adapter}},
            "14": {"class_type": "C2DApplyAudioAdapter", "inputs": {
                "model": ["1", 0], "adapter": ["13", 0], "embeds": ["12", 0], "strength": combo.strength,
                "start_percent": 0.0, "end_percent": 1.0}},
        })
    return p


def live_patches() -> tuple[int, int]:
    """(number of live AudioAttentionPatch objects, bytes of the K/V tensors their caches hold). The pack is
    loaded by ComfyUI under its own module name, so the class is matched by name."""
    n, kv = 0, 0
    for obj in gc.get_objects():
        if type(obj).__name__ == "AudioAttentionPatch":
            n += 1
            kv += obj.kv_cache_bytes()
    return n, kv


def rss_mib(pid: int | None = None) -> float:
    import psutil
    return psutil.Process(pid or os.getpid()).memory_info().rss / 2**20


# ---- the queue, in the real server ---------------------------------------------------------------
def queue_in_server(work: Path, prompts: list[dict]) -> tuple[list, list[float], float, list[bool]]:
    """Starts ComfyUI's main.py on `work` (devtools.frontend.ComfyServer: --base-directory, this repository
    linked into custom_nodes/), POSTs every prompt at once, and samples the server's RSS while it works through
    the queue. Returns (output latents in queue order, RSS after each prompt finished (MiB), peak RSS,
    KSampler-cached flags)."""
    import psutil
    import torch
    from safetensors.torch import load_file

    from devtools.comfy_host import find_comfyui
    from devtools.frontend import ComfyServer

    with ComfyServer(find_comfyui(), work) as server:
        if "C2DApplyAudioAdapter" not in (server.get("/object_info/C2DApplyAudioAdapter") or {}):
            raise RuntimeError(f"the pack did not load in the ComfyUI server:\n{server.log_tail()}")
        ps = psutil.Process(server.proc.pid)
        ids = [server.post("/prompt", {"prompt": p, "client_id": "bench_queue"})["prompt_id"] for p in prompts]
        log.info("queued %d prompts in the server (pid %d)", len(ids), server.proc.pid)
        done: dict[str, float] = {}
        peak = 0.0
        while len(done) < len(ids):
            rss = ps.memory_info().rss / 2**20
            peak = max(peak, rss)
            for pid_, entry in server.get("/history").items():
                if pid_ not in done and entry.get("status", {}).get("completed") is not None:
                    status = entry["status"]
                    if status.get("status_str") != "success":
                        raise RuntimeError(f"prompt {pid_} failed in the server: {json.dumps(status)[:2000]}")
                    done[pid_] = rss
            if server.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI server died with {server.proc.returncode}:\n{server.log_tail()}")
            time.sleep(0.1)
        history = server.get("/history")
        cached = []
        for i in ids:
            msgs = dict((m[0], m[1]) for m in history[i]["status"]["messages"])
            cached.append("5" in msgs.get("execution_cached", {}).get("nodes", []))
    latents = []
    for i in range(len(prompts)):
        [f] = (work / "output").glob(f"q{i:03d}_*.latent")
        latents.append(load_file(str(f))["latent_tensor"].to(torch.float32))
    return latents, [done[i] for i in ids], peak, cached


# ---- the queue, in-process -------------------------------------------------------------------------
def queue_in_process(host, prompts: list[dict]) -> tuple[list, list[float], float, list[bool], list[tuple]]:
    """The same queue through one shared PromptExecutor of the in-process host (caches kept between prompts,
    as in the app). Also returns (live patches, their K/V bytes, loaded models) after each prompt."""
    import comfy.model_management as mm

    host.clear_cache()
    latents, rss, cached, objects = [], [], [], []
    for p in prompts:
        result = host.run(p, fresh=False)
        latents.append(result["outputs"]["5"][0]["samples"].clone())
        cached.append("5" in result["cached"])
        del result
        gc.collect()
        rss.append(rss_mib())
        objects.append((*live_patches(), len(mm.current_loaded_models)))
    host.clear_cache()
    return latents, rss, max(rss), cached, objects


# ---- references and report -------------------------------------------------------------------------
def fresh_references(host, order: list[Combo], size: int, steps: int) -> tuple[dict, object]:
    """Each patched setting (strength > 0) and the unpatched model, each run alone in a fresh executor."""
    refs = {}
    for c in dict.fromkeys(c for c in order if c.strength > 0):
        refs[c] = host.run(graph(c, size, steps, prefix="ref"))["outputs"]["5"][0]["samples"].clone()
    base = host.run(graph(None, size, steps, prefix="ref"))["outputs"]["5"][0]["samples"].clone()
    return refs, base


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=50, help="number of queued prompts")
    ap.add_argument("--size", type=int, default=64, help="image size in pixels (latent is size/8)")
    ap.add_argument("--steps", type=int, default=2, help="sampling steps per prompt (euler, cfg 5)")
    ap.add_argument("--mode", choices=("server", "inprocess"), default="server",
                    help="server: real ComfyUI main.py fed through POST /prompt; inprocess: devtools.comfy_host")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder (models, outputs, server.log)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from c2d_core.config import AdapterConfig

    work = make_workspace("c2d_bench_queue_", sounds=SOUNDS,
                          adapters={"a.safetensors": (AdapterConfig(gate_init=0.5), 1),
                                    "b.safetensors": (AdapterConfig(gate_init=0.5), 2)})
    try:
        return run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path) -> int:
    """Queue, fresh references, report; 0 when every check passed."""
    import torch

    cycle = combos()
    order = [cycle[i % len(cycle)] for i in range(args.prompts)]
    prompts = [graph(c, args.size, args.steps, prefix=f"q{i:03d}") for i, c in enumerate(order)]

    t0 = time.perf_counter()
    objects = None
    if args.mode == "server":
        latents, rss, peak, cached = queue_in_server(work, prompts)
        host = bench_host(work)
    else:
        host = bench_host(work)
        latents, rss, peak, cached, objects = queue_in_process(host, prompts)
    t_queue = time.perf_counter() - t0
    t0 = time.perf_counter()
    refs, base = fresh_references(host, order, args.size, args.steps)
    t_refs = time.perf_counter() - t0

    print(f"\n{args.prompts} queued prompts in one ComfyUI ({args.mode}), SD1.5 random weights, "
          f"{args.size}x{args.size}, euler {args.steps} steps, cfg 5; 3 sounds x 2 adapters (gate 0.5) x "
          f"strengths {STRENGTHS}")
    print(f"queue: {t_queue:.0f} s ({t_queue / args.prompts:.2f} s/prompt incl. start-up); "
          f"{len(refs) + 1} fresh reference runs: {t_refs:.0f} s")
    hdr = f"{'#':>3} {'setting':<16} {'RSS MiB':>8} {'max|Δ| vs fresh':>16} {'equal':>6} {'sampler cached':>15}"
    if objects:
        hdr += f" {'patches':>8} {'K/V KiB':>8} {'loaded':>7}"
    print(hdr)
    failures = []
    for i, (c, lat) in enumerate(zip(order, latents)):
        ref = refs[c] if c.strength > 0 else base
        diff = (lat - ref).abs().max().item()
        equal = torch.equal(lat, ref)
        if not equal:
            failures.append(f"prompt {i} ({c.label()}) differs from its fresh run by {diff:.3g}")
        if cached[i]:
            failures.append(f"prompt {i} ({c.label()}): sampler output came from the cache")
        line = f"{i:>3} {c.label():<16} {rss[i]:>8.0f} {diff:>16.3g} {str(equal):>6} {str(cached[i]):>15}"
        if objects:
            line += f" {objects[i][0]:>8} {objects[i][1] / 2**10:>8.0f} {objects[i][2]:>7}"
        print(line)

    # different sounds must give different outputs (else the checks above prove nothing about audio)
    distinct = 0
    for adapter, strength in itertools.product(ADAPTERS, STRENGTHS[1:]):
        outs = [refs[Combo(a, adapter, strength)] for a in SOUNDS if Combo(a, adapter, strength) in refs]
        for x, y in itertools.combinations(outs, 2):
            distinct += 1
            if torch.equal(x, y):
                failures.append(f"two sounds gave the same output ({adapter}, strength {strength})")
    n_cycle = min(len(cycle), len(rss))
    first, after_cycle, last = rss[0], rss[n_cycle - 1], rss[-1]
    half = rss[len(rss) // 2:]
    slope = (torch.tensor(half).diff().mean().item() if len(half) > 1 else 0.0)
    print(f"RSS: after prompt 1 {first:.0f} MiB; after the first cycle (prompt {n_cycle}) {after_cycle:.0f} MiB; "
          f"max {max(rss):.0f} MiB (sampled peak {peak:.0f}); last {last:.0f} MiB")
    print(f"RSS growth: last - first {last - first:+.0f} MiB ({(last - first) / first:+.1%}); "
          f"last - after first cycle {last - after_cycle:+.0f} MiB ({(last - after_cycle) / after_cycle:+.1%}); "
          f"second-half slope {slope:+.2f} MiB/prompt")
    if objects:
        print(f"live AudioAttentionPatch objects after each prompt: min {min(o[0] for o in objects)}, "
              f"max {max(o[0] for o in objects)}; loaded models: max {max(o[2] for o in objects)}")
    n_zero = sum(c.strength == 0 for c in order)
    n_equal = args.prompts - sum("differs" in f for f in failures)
    n_same = sum("same output" in f for f in failures)
    print(f"correctness: {n_equal}/{args.prompts} outputs equal their fresh run bit for bit ({n_zero} at strength 0 "
          f"compared with the unpatched model); different sounds, same adapter and strength: "
          f"{distinct - n_same}/{distinct} pairs differ")
    print("RESULT: " + ("OK" if not failures else "FAIL\n  " + "\n  ".join(failures)))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
