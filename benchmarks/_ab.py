"""A/B timing of two ComfyUI prompts in one process: the same graph sampled with the bare model (A) and with the
audio adapter applied (B), interleaved in ABBA order so that a machine slowing down or speeding up over the run
weighs on both sides alike.

    ab = interleave(host, lambda patched, seed: graph(..., seed, patched), repeats=8)
    for line in ab.report(target=1.03): print(line)

Per run it keeps the denoising-loop time (`SamplingClock`: only `CFGGuider.inner_sample`), wall-clock and CPU, the
part of it spent in UNet calls, the whole prompt's time, the rows of every UNet call, and the nodes ComfyUI ran
again instead of serving them from its cache. Ratios B/A are printed: of the medians, the median of the per-repeat
pair ratios (robust to drift: each pair ran back to back), of the fastest runs (least touched by other load), the
geometric mean of the pair ratios with a 90 % bootstrap interval (how far this run's noise leaves the answer open),
and the same for CPU time (the process's own CPU seconds: time taken by other tenants of the machine is not in
them).
"""
from __future__ import annotations

import math
import random
import statistics
import time
from dataclasses import dataclass, field


def geometric_mean_interval(ratios: list[float], level: float = 0.9, resamples: int = 4000,
                            seed: int = 0) -> tuple[float, float, float]:
    """(geometric mean, low, high) of ratios: a percentile bootstrap of the mean log ratio (fixed seed, so the
    same ratios always print the same interval). One ratio gives (r, r, r)."""
    logs = [math.log(r) for r in ratios]
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return math.exp(mean), math.exp(mean), math.exp(mean)
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(logs, k=len(logs))) for _ in range(resamples))
    tail = (1 - level) / 2
    low, high = means[int(tail * resamples)], means[min(resamples - 1, int((1 - tail) * resamples))]
    return math.exp(mean), math.exp(low), math.exp(high)


@dataclass
class ABTimes:
    loop: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})    # patched? → seconds
    loop_cpu: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})  # CPU seconds
    unet: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})      # in UNet calls
    whole: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})
    rows: dict[bool, list[list[int]]] = field(default_factory=lambda: {False: [], True: []})
    uncached: set[str] = field(default_factory=set)    # "patched/plain: node ids" that re-ran in a timed prompt
    warm_patched: dict | None = None                   # host.run result of the patched warm-up (its outputs)

    @staticmethod
    def pairs(series: dict[bool, list[float]]) -> list[float]:
        """Per-repeat ratios with/without of one series (loop, loop_cpu, unet)."""
        return [b / a for a, b in zip(series[False], series[True])]

    @property
    def pair_ratios(self) -> list[float]:
        return self.pairs(self.loop)

    @property
    def ratio_of_medians(self) -> float:
        return statistics.median(self.loop[True]) / statistics.median(self.loop[False])

    @property
    def pair_median(self) -> float:
        return statistics.median(self.pair_ratios)

    @property
    def fastest_ratio(self) -> float:
        return min(self.loop[True]) / min(self.loop[False])

    def report(self, target: float | None = None) -> list[str]:
        def times(xs):
            return ", ".join(f"{t:.2f}" for t in xs)

        cpu_pairs, unet_pairs = self.pairs(self.loop_cpu), self.pairs(self.unet)
        lines = [
            f"denoising loop without adapter: median {statistics.median(self.loop[False]):.2f} s ({times(self.loop[False])})",
            f"denoising loop with adapter:    median {statistics.median(self.loop[True]):.2f} s ({times(self.loop[True])})",
            f"pair ratios (each repeat's two runs back to back, ABBA order): {', '.join(f'{r:.3f}' for r in self.pair_ratios)}",
            f"RATIO with/without, median of the pair ratios = {self.pair_median:.3f}"
            + (f"  (target <= {target:g})" if target is not None else ""),
            f"ratio of the medians = {self.ratio_of_medians:.3f}; ratio of the fastest runs = {self.fastest_ratio:.3f}",
            "geometric mean of the pair ratios = {:.3f}, 90 % bootstrap interval [{:.3f}, {:.3f}]".format(
                *geometric_mean_interval(self.pair_ratios)),
            f"CPU time (this process, all threads): without median {statistics.median(self.loop_cpu[False]):.2f} s, "
            f"with {statistics.median(self.loop_cpu[True]):.2f} s; pair ratios "
            f"{', '.join(f'{r:.3f}' for r in cpu_pairs)}",
            "CPU-time RATIO: median of the pair ratios {:.3f}; geometric mean {:.3f}, 90 % interval [{:.3f}, {:.3f}]"
            .format(statistics.median(cpu_pairs), *geometric_mean_interval(cpu_pairs)),
        ]
        lines.append(f"in the UNet calls: without median {statistics.median(self.unet[False]):.2f} s, with "
                     f"{statistics.median(self.unet[True]):.2f} s, median of the pair ratios "
                     f"{statistics.median(unet_pairs):.3f}; the rest of the loop: without "
                     f"{statistics.median(a - u for a, u in zip(self.loop[False], self.unet[False])):.2f} s, with "
                     f"{statistics.median(b - u for b, u in zip(self.loop[True], self.unet[True])):.2f} s")
        for patched, name in ((False, "without"), (True, "with")):   # 2-row calls = cond and uncond batched together
            calls = sorted({" ".join(map(str, r)) for r in self.rows[patched]})
            lines.append(f"UNet call rows per run {name} adapter: {' | '.join(calls)}")
        w_a, w_b = statistics.median(self.whole[False]), statistics.median(self.whole[True])
        lines.append(f"whole prompts: median {w_a:.2f} s vs {w_b:.2f} s, ratio {w_b / w_a:.3f}")
        lines += [f"NOTE: {u} re-ran instead of coming from ComfyUI's cache" for u in sorted(self.uncached)]
        return lines


def interleave(host, prompt, repeats: int, *, cached: set[str] | None = None) -> ABTimes:
    """Run prompt(patched, seed) → API prompt dict in ABBA order, `repeats` pairs, seed 100 + repeat on both sides of
    a pair, after one warm-up run of each (loads every model; the patched one's result is kept as `warm_patched`).
    `cached`: node ids the timed prompts should serve from ComfyUI's cache where they have them (one that re-runs is
    noted in the report)."""
    from ._host import SamplingClock

    ab = ABTimes(warm_patched=host.run(prompt(True, 0), fresh=False))
    host.run(prompt(False, 0), fresh=False)
    clock = SamplingClock()
    for r in range(repeats):
        for patched in ((False, True) if r % 2 == 0 else (True, False)):
            graph = prompt(patched, 100 + r)
            t0 = time.perf_counter()
            with clock.run() as span:
                result = host.run(graph, fresh=False)
            ab.whole[patched].append(time.perf_counter() - t0)
            ab.loop[patched].append(span.seconds)
            ab.loop_cpu[patched].append(span.cpu_seconds)
            ab.unet[patched].append(span.unet_seconds)
            ab.rows[patched].append(span.unet_rows)
            missing = sorted(((cached or set()) & set(graph)) - set(result["cached"]))
            if missing:
                ab.uncached.add(f"{'patched' if patched else 'plain'}: nodes {', '.join(missing)}")
    return ab
