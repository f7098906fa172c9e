"""Which samples each micro-batch trains on, and their noise: pure functions of the position in the sample stream,
so a resumed, accumulated or multi-process run trains exactly what an uninterrupted single-process run would."""
from __future__ import annotations

import dataclasses

import torch

from .objective import Noise, draw_noise


def mix_seed(*parts: int) -> int:
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h * 1_000_003 + int(p) + 0x632BE5AB) % (2 ** 63)
    return h


class BatchSampler:
    """Sample rows for (step, micro, rank): an epoch-wise permutation of the training rows, as a pure
    function of the position in the sample stream."""

    def __init__(self, rows: torch.Tensor, batch: int, accum: int, world: int, seed: int):
        self.rows, self.batch, self.accum, self.world, self.seed = rows, batch, accum, world, seed
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            g = torch.Generator().manual_seed(mix_seed(self.seed, 17, epoch))
            self._perms[epoch] = torch.randperm(len(self.rows), generator=g)
        return self._perms[epoch]

    def positions(self, step: int, micro: int, rank: int) -> torch.Tensor:
        """Positions in the global sample stream of micro-batch `micro` of step `step` on process `rank`."""
        start = ((step * self.accum + micro) * self.world + rank) * self.batch
        return torch.arange(start, start + self.batch)

    def indices(self, step: int, micro: int, rank: int) -> torch.Tensor:
        n = len(self.rows)
        pos = self.positions(step, micro, rank).tolist()
        return torch.tensor([int(self.rows[self._perm(p // n)[p % n]]) for p in pos], dtype=torch.long)


def stream_noise(positions: torch.Tensor, shape: tuple, n_timesteps: int, seed: int, audio_dropout: float,
                 text_dropout: float) -> Noise:
    """Noise (B, C, H, W), timestep and dropout of each sample from its stream position (B,), so one process with
    batch B·N draws exactly what N processes with batch B draw together."""
    parts = []
    for pos in positions.tolist():
        g = torch.Generator().manual_seed(mix_seed(seed, 1, pos))
        parts.append(draw_noise(g, (1,) + tuple(shape[1:]), n_timesteps, audio_dropout, text_dropout))
    return Noise(*(torch.cat([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Noise)))


def validation_noise(*, start: int, n: int, shape: tuple, k: int, k_timesteps: int, n_timesteps: int,
                     seed: int) -> Noise:
    """Fixed noise for validation rows start … start+n (shape: the batch's latent shape (B, C, H, W)) at the k-th of
    k_timesteps evenly spaced timesteps of n_timesteps, audio and text on; per sample, so it does not depend on the
    batch size."""
    noise = torch.stack([torch.randn(shape[1:], generator=torch.Generator().manual_seed(mix_seed(seed, 2, start + i, k)))
                         for i in range(n)])
    return Noise(noise=noise, t=torch.full((n,), int((k + 0.5) / k_timesteps * n_timesteps)),
                 null_audio=torch.zeros(n, dtype=torch.bool), null_text=torch.zeros(n, dtype=torch.bool))
