"""Shared set-up of the host benchmarks: a throw-away ComfyUI work folder holding the random-weight
stand-ins (SD1.5 checkpoint, CLAP folder), fresh adapters and synthetic sounds, and the in-process
host pointing at it.

    work = make_workspace("c2d_bench_", adapters={"a.safetensors": AdapterConfig(gate_init=0.5)},
                          sounds={"a.wav": ("rain", 5.0)})
    host = bench_host(work)          # devtools.comfy_host.ComfyHost with this pack loaded

The layout is ComfyUI's own (`models/checkpoints`, `models/clap`, `models/audio_adapters`, `input/`,
`output/`), so the same folder also works as a real server's `--base-directory`.
"""
from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

CKPT = "sd15.safetensors"   # name of the SD1.5 stand-in in models/checkpoints
RATE = 44_100


def make_workspace(prefix: str, *, adapters: dict, sounds: dict[str, tuple[str, float]], clap_name: str = "clap",
                   clap_tiny: bool = True, adapter_seed: int = 0) -> Path:
    """A new temp folder with models/ and input/ filled.

    adapters: file name → AdapterConfig (each built by `new_adapter(cfg, seed=adapter_seed)`, or give a
    (AdapterConfig, seed) pair); sounds: file name → (synth kind, seconds), written as 44.1 kHz stereo wav.
    Returns the folder (its `models/clap/<clap_name>` is the CLAP stand-in)."""
    from c2d_core.adapter_file import save_adapter
    from c2d_core.factory import new_adapter
    from devtools.demo_audio import synth, write_wav
    from devtools.standin_clap import make_random_clap_folder
    from devtools.standin_sd15 import ensure_standins

    work = Path(tempfile.mkdtemp(prefix=prefix))
    models = work / "models"
    for sub in ("checkpoints", "audio_adapters", "clap"):
        (models / sub).mkdir(parents=True, exist_ok=True)
    (work / "input").mkdir(parents=True, exist_ok=True)
    (models / "checkpoints" / CKPT).symlink_to(ensure_standins()["sd15"])
    make_random_clap_folder(models / "clap" / clap_name, seed=0, tiny=clap_tiny)
    for name, spec in adapters.items():
        cfg, seed = spec if isinstance(spec, tuple) else (spec, adapter_seed)
        save_adapter(models / "audio_adapters" / name, new_adapter(cfg, seed=seed))
    for name, (kind, seconds) in sounds.items():
        write_wav(work / "input" / name, synth(kind, seconds, RATE, 2), RATE)
    return work


def add_float_mode_option(ap) -> None:
    """The `--keep-denormals` option of every timing benchmark (read by `float_mode`)."""
    ap.add_argument("--keep-denormals", action="store_true",
                    help="don't flush subnormal floats to zero on the CPU (see benchmarks/_host.float_mode)")


def float_mode(keep_denormals: bool) -> str:
    """Flush subnormal floats to zero on the CPU (FTZ/DAZ via `torch.set_flush_denormal`) unless keep_denormals, and
    say which it is. Call it first in a benchmark, before torch starts its worker threads (they inherit the mode).

    Random stand-in weights drive some activations into subnormals, which x86 CPUs compute many times slower; the
    bare and the patched model hold different activations, so their speeds then differ by how many subnormals each
    meets, not by the adapter's work. Measured (bench_sonic, 128², 1 thread): 3.16 s without vs 2.80 s with the
    adapter per UNet call; flushed, 2.47 vs 2.40 s."""
    import torch

    if keep_denormals or not torch.set_flush_denormal(True):
        return "subnormal floats kept"
    return "subnormal floats flushed to zero"


def bench_host(work: Path):
    """The process-wide in-process ComfyUI host (devtools.comfy_host) on `work`, pack loaded."""
    from devtools.comfy_host import get_host

    return get_host(work / "models", work, load_pack=True)


class SamplingClock:
    """Seconds spent in ComfyUI's denoising loop (`CFGGuider.inner_sample`: conds set-up and every sampler step),
    summed per run, wall-clock and CPU (this process's, all threads: time taken by other processes or by the
    hypervisor is not in it), the wall time and batch size of every UNet call in it (`BaseModel.apply_model`; the
    loop's time outside them is the sampler's and the conds' own); the rest of a run
    (loading, audio encoding, the nodes that ComfyUI's classic cache re-runs when the previous prompt lacked them) is
    not sampling. ComfyUI runs the cond and uncond rows as one batch only while it thinks memory allows
    (`comfy.samplers._calc_cond_batch`), so two runs with different call lists did different work.

        clock = SamplingClock()            # after the host has imported ComfyUI
        with clock.run() as span: host.run(prompt, fresh=False)
        span.seconds, span.cpu_seconds     # denoising time of that run, wall and CPU
        span.unet_seconds, span.unet_rows  # wall time in the UNet calls, rows of each call
    """

    def __init__(self):
        import comfy.model_base
        import comfy.samplers

        self._current: SimpleNamespace | None = None
        clock = self
        guider, base = comfy.samplers.CFGGuider, comfy.model_base.BaseModel
        original_sample, original_apply = guider.inner_sample, base.apply_model

        def timed(guider_self, *args, **kwargs):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return original_sample(guider_self, *args, **kwargs)
            finally:
                if clock._current is not None:
                    clock._current.seconds += time.perf_counter() - t0
                    clock._current.cpu_seconds += time.process_time() - c0

        def counted(model_self, x, *args, **kwargs):
            if clock._current is None:
                return original_apply(model_self, x, *args, **kwargs)
            clock._current.unet_rows.append(int(x.shape[0]))
            t0 = time.perf_counter()
            try:
                return original_apply(model_self, x, *args, **kwargs)
            finally:
                clock._current.unet_seconds += time.perf_counter() - t0

        guider.inner_sample, base.apply_model = timed, counted

    def run(self):
        @contextlib.contextmanager
        def span():
            self._current = SimpleNamespace(seconds=0.0, cpu_seconds=0.0, unet_seconds=0.0, unet_rows=[])
            try:
                yield self._current
            finally:
                self._current = None
        return span()
