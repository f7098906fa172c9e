"""AudioCLIP's audio tower in pure torch: ESResNeXt-fbsp (ResNeXt-50 32×4d with attention gates) → 1024-d.

Same computation and tensor names as AudioCLIP's `ESResNeXtFBSP` (model/esresnet/{base,fbsp,attention}.py, MIT) with
AudioCLIP's settings (n_fft 2048, hop 561, window 1654 Blackman-Harris, normalized, attention on, 1024 classes), so
the `audio.*` tensors of `AudioCLIP-Full-Training.pt` load strictly (370 tensors, BatchNorm statistics included):
  front end     `frontend.spectrogram_db` → (B, 2 channels, 3 bands, 341, frames)
  per channel   conv1 7×7/2 → BN → ReLU → maxpool 3/2; layer1…4 (Bottleneck ×3/4/6/3, width 2·planes, groups 32),
                each multiplied by a gate att_k(x before the layer) = σ(BN(pointwise(depthwise(maxpool_to_size(x)))));
                avgpool to 1×1 × att5 → (B, 2048)
  channels      summed → fc (2048 → 1024)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..torch_files import meta_layout
from .frontend import BANDS, WIN, LinearFBSP, spectrogram_db


@dataclass(frozen=True)
class AudioCLIPAudioConfig:
    name: str = "AudioCLIP-Full-Training"
    file_name: str = "AudioCLIP-Full-Training.pt"
    layers: tuple[int, ...] = (3, 4, 6, 3)
    groups: int = 32
    width_per_group: int = 4
    embed_dim: int = 1024
    sample_rate: int = 44_100
    clip_samples: int = 176_400        # 4 s: GlueGen's data loader keeps a clip's first 4 s


AUDIOCLIP_FULL = AudioCLIPAudioConfig()


class Bottleneck(nn.Module):
    """torchvision's ResNeXt bottleneck (stride on the 3×3), non-inplace ReLU."""

    def __init__(self, inplanes: int, planes: int, stride: int, groups: int, base_width: int, downsample: bool):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        if downsample:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = self.downsample(x) if hasattr(self, "downsample") else x
        return F.relu(out + identity)


class Attention2d(nn.Module):
    """The gate: max-pool to the layer's output size → depthwise conv → pointwise conv → BN → sigmoid."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int], padding: tuple[int, int]):
        super().__init__()
        self.conv_depth = nn.Conv2d(cin, cin, kernel, padding=padding, groups=cin)
        self.conv_point = nn.Conv2d(cin, cout, 1)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x, size):
        return torch.sigmoid(self.bn(self.conv_point(self.conv_depth(F.adaptive_max_pool2d(x, size)))))


GATES = (((3, 1), (1, 0)), ((1, 5), (0, 2)), ((3, 1), (1, 0)), ((1, 5), (0, 2)))  # att1…att4 kernels, padding


class AudioCLIPAudioTower(nn.Module):
    """waveform (B, 2, T) in int16 scale → (B, 1024), un-normalised (AudioCLIP's `encode_audio`)."""

    def __init__(self, cfg: AudioCLIPAudioConfig = AUDIOCLIP_FULL):
        super().__init__()
        self.cfg = cfg
        self.conv1 = nn.Conv2d(BANDS, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        inplanes = 64
        for k, (planes, blocks) in enumerate(zip((64, 128, 256, 512), cfg.layers), start=1):
            stride = 1 if k == 1 else 2
            layer = [Bottleneck(inplanes, planes, stride, cfg.groups, cfg.width_per_group, downsample=True)]
            layer += [Bottleneck(planes * 4, planes, 1, cfg.groups, cfg.width_per_group, downsample=False)
                      for _ in range(1, blocks)]
            setattr(self, f"layer{k}", nn.Sequential(*layer))
            setattr(self, f"att{k}", Attention2d(inplanes, planes * 4, *GATES[k - 1]))
            inplanes = planes * 4
        self.att5 = Attention2d(2048, 2048, (3, 5), (1, 2))
        self.fc = nn.Linear(2048, cfg.embed_dim)
        self.fbsp = LinearFBSP()
        self.register_buffer("window", torch.ones(WIN))  # the released file's Blackman-Harris window replaces it

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """One channel's bands (B, 3, 341, frames) → (B, 2048)."""
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), kernel_size=3, stride=2, padding=1)
        for k in range(1, 5):
            gate_input = x
            x = getattr(self, f"layer{k}")(x)
            x = x * getattr(self, f"att{k}")(gate_input, x.shape[-2:])
        pooled = F.adaptive_avg_pool2d(x, 1)
        return torch.flatten(pooled * self.att5(x, pooled.shape[-2:]), 1)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x_db = spectrogram_db(waveform, self.window, self.fbsp)                 # (B, C, 3, 341, frames)
        pooled = torch.stack([self.trunk(x_db[:, c]) for c in range(x_db.shape[1])], dim=-1).sum(dim=-1)
        return self.fc(pooled)                                                   # (B, 1024)


def expected_layout(cfg: AudioCLIPAudioConfig = AUDIOCLIP_FULL) -> dict[str, tuple[int, ...]]:
    return meta_layout(lambda: AudioCLIPAudioTower(cfg))
