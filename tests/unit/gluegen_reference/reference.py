"""Builders and the GlueGen sound-conditioning path, written over the copied original code (tests only).

GG = salesforce/GlueGen @ 4159352d, AC = AndreyGuzhov/AudioCLIP @ 45327aa2 (see the package docstring).
Every step that is not a call into the copied modules is quoted from the cited source line.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from . import transforms
from .fbsp import ESResNeXtFBSP
from .translators import Translator_w_head

# GG:stable-diffusion/ldm/modules/encoders/modules.py:336, the literal as written there (there `.to(device)`, device="cuda";
# here it stays on CPU). torch.Tensor(...) gives float32, shape (77, 1).
TENSOR_NORM = torch.Tensor([[43.8203],[28.3668],[27.9345],[28.0084],[28.2958],[28.2576],[28.3373],[28.2695],[28.4097],[28.2790],[28.2825],[28.2807],[28.2775],[28.2708],[28.2682],[28.2624],[28.2589],[28.2611],[28.2616],[28.2639],[28.2613],[28.2566],[28.2615],[28.2665],[28.2799],[28.2885],[28.2852],[28.2863],[28.2780],[28.2818],[28.2764],[28.2532],[28.2412],[28.2336],[28.2514],[28.2734],[28.2763],[28.2977],[28.2971],[28.2948],[28.2818],[28.2676],[28.2831],[28.2890],[28.2979],[28.2999],[28.3117],[28.3363],[28.3554],[28.3626],[28.3589],[28.3597],[28.3543],[28.3660],[28.3731],[28.3717],[28.3812],[28.3753],[28.3810],[28.3777],[28.3693],[28.3713],[28.3670],[28.3691],[28.3679],[28.3624],[28.3703],[28.3703],[28.3720],[28.3594],[28.3576],[28.3562],[28.3438],[28.3376],[28.3389],[28.3433],[28.3191]])  # noqa: E501

SAMPLE_RATE = 44100  # GG:stable-diffusion/audioclip/protocols/audioclip-us8k-demo.json:44
OUT_LEN = 176400  # same json :82,87 (RandomPadding / RandomCrop out_len); = sample_rate * 4 in us8k.py:93


def _uniform(g: torch.Generator, shape, lo: float, hi: float) -> torch.Tensor:
    return torch.rand(shape, generator=g) * (hi - lo) + lo


@torch.no_grad()
def _randomise(module: torch.nn.Module, g: torch.Generator) -> None:
    """Overwrite every float parameter/buffer (and BN's num_batches_tracked) from `g`, keeping activations O(1)."""
    norm_types = (torch.nn.BatchNorm2d, torch.nn.LayerNorm)
    for mod in module.modules():
        for name, p in list(mod.named_parameters(recurse=False)) + list(mod.named_buffers(recurse=False)):
            if p is None or p.numel() == 0:  # fbsp.bias is an empty (0,) Parameter: keep it
                continue
            if isinstance(mod, norm_types):
                if name == "weight":
                    p.copy_(_uniform(g, p.shape, 0.5, 1.5))
                elif name == "bias":
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
                elif name == "running_mean":
                    p.copy_(torch.randn(p.shape, generator=g) * 0.5)
                elif name == "running_var":
                    p.copy_(_uniform(g, p.shape, 0.5, 2.0))
                elif name == "num_batches_tracked":
                    p.fill_(int(torch.randint(1, 10_000, (), generator=g)))
                else:
                    raise AssertionError(f"unexpected norm tensor {name}")
            elif name == "weight" and p.dim() >= 2:  # Conv2d / Linear: He-style std keeps the deep trunk finite
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif name == "bias":
                p.copy_(_uniform(g, p.shape, -0.1, 0.1))
            elif name in ("m", "fb"):  # LinearFBSP (fbsp.py:30-31); U(0.5, 2) keeps sinc/power away from 0**m NaNs
                p.copy_(_uniform(g, p.shape, 0.5, 2.0))
            elif name == "fc":  # LinearFBSP centre frequencies, built as arange(1025): jitter them
                p.add_(_uniform(g, p.shape, -0.25, 0.25))
            elif name == "window":  # _ESResNet's blackmanharris buffer (base.py:511-514): keep as built
                continue
            else:
                raise AssertionError(f"unexpected tensor {type(mod).__name__}.{name}")


@torch.no_grad()
def _calibrate_batchnorm(tower: torch.nn.Module, g: torch.Generator) -> None:
    """Re-draw every BatchNorm's running stats around the statistics of its own input on one seeded int16-range clip,
    so eval-mode activations stay O(1) and the attention sigmoids are not saturated (random stats alone saturate
    ~85-99% of the gates, which would hide attention-path bugs). Still random: mean + 0.2*std*N(0,1), var*U(0.5, 2)."""
    def pre_hook(bn, args):
        if getattr(bn, "_gg_calibrated", False):  # the trunk runs once per audio channel; calibrate on the first
            return
        x = args[0]
        if x.shape[0] * x.shape[2] * x.shape[3] > 1:
            mean = x.mean(dim=(0, 2, 3))
            var = x.var(dim=(0, 2, 3), unbiased=False)
        else:  # att5.bn sees a 1x1 map of one clip: pool the statistics over channels instead
            mean = x.mean().expand(x.shape[1])
            var = x.var(unbiased=False).expand(x.shape[1])
        bn.running_mean.copy_(mean + 0.2 * var.sqrt() * torch.randn(mean.shape, generator=g))
        bn.running_var.copy_(var * _uniform(g, var.shape, 0.5, 2.0) + 1e-3)
        bn._gg_calibrated = True

    bns = [m for m in tower.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    handles = [bn.register_forward_pre_hook(pre_hook) for bn in bns]
    try:
        tower.eval()(_uniform(g, (1, 2, OUT_LEN), -32768.0, 32767.0))
    finally:
        for h in handles:
            h.remove()
        for bn in bns:
            bn.__dict__.pop("_gg_calibrated", None)
    assert len(bns) == 58


def their_audio_tower(seed: int = 0) -> ESResNeXtFBSP:
    """AudioCLIP's audio tower exactly as AC:model/audioclip.py:77-89 builds it (defaults :52-62, embed_dim 1024),
    eval mode, every parameter and buffer randomised from `seed` (window and the empty fbsp.bias kept; BN running
    stats drawn around their input's statistics on a seeded clip, see _calibrate_batchnorm)."""
    with torch.random.fork_rng(devices=[]):  # construction draws from the global RNG; leave the caller's alone
        torch.manual_seed(seed)
        tower = ESResNeXtFBSP(
            n_fft=2048,
            hop_length=561,
            win_length=1654,
            window='blackmanharris',
            normalized=True,
            onesided=True,
            spec_height=-1,
            spec_width=-1,
            num_classes=1024,
            apply_attention=True,
            pretrained=False,
        )
    g = torch.Generator().manual_seed(seed)
    _randomise(tower, g)
    _calibrate_batchnorm(tower, g)
    return tower.eval()


def their_translator(seed: int = 0) -> Translator_w_head:
    """GG:stable-diffusion/ldm/modules/encoders/modules.py:331 `Translator_w_head(16, 77, 64, 768, 4, 5)`
    (the translators.py class, not sound-gluenet/model.py's), eval mode, weights and LayerNorm affines randomised."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        translator = Translator_w_head(16, 77, 64, 768, 4, 5)
    _randomise(translator, torch.Generator().manual_seed(seed + 1))
    return translator.eval()


def audioclip_file_state(tower: torch.nn.Module) -> "OrderedDict[str, torch.Tensor]":
    """A dict laid out like AudioCLIP-Full-Training.pt (flat AudioCLIP state dict): the tower under `audio.`,
    plus a few CLIP / AudioCLIP keys under their real names at tiny shapes (logit scales at their real 0-d shape),
    which a reader must ignore. Key order follows nn.Module.state_dict (direct parameters first, then children)."""
    g = torch.Generator().manual_seed(1234)
    state: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    state["positional_embedding"] = torch.randn(3, 2, generator=g)
    state["text_projection"] = torch.randn(2, 2, generator=g)
    state["logit_scale"] = torch.tensor(4.6052)
    state["logit_scale_ai"] = torch.tensor(4.6052)
    state["logit_scale_at"] = torch.tensor(4.6052)
    state["visual.conv1.weight"] = torch.randn(2, 3, 3, 3, generator=g)
    state["visual.bn1.running_mean"] = torch.randn(2, generator=g)
    state["transformer.resblocks.0.attn.in_proj_weight"] = torch.randn(6, 2, generator=g)
    state["token_embedding.weight"] = torch.randn(4, 2, generator=g)
    state["ln_final.weight"] = torch.ones(2)
    for k, v in tower.state_dict().items():
        state["audio." + k] = v.detach().clone()
    return state


def their_prepare(wav: np.ndarray) -> torch.Tensor:
    """(C, T) float32 audio already at 44100 Hz -> (2, 176400) float32, GlueGen's test-time data path after resampling:
    GG:stable-diffusion/audioclip/utils/datasets/us8k.py:90-96 (`_load_worker`, sample_rate=44100, mono=False),
    then the test transforms of audioclip-us8k-demo.json:50-90 (ToTensor1D, RandomPadding/RandomCrop train=False)."""
    sample_rate, mono = SAMPLE_RATE, False
    wav = np.asarray(wav)
    # us8k.py:90-96, verbatim
    if wav.shape[0] == 1 and not mono:
        wav = np.concatenate((wav, wav), axis=0)

    wav = wav[:, :sample_rate * 4]
    wav = transforms.scale(wav, wav.min(), wav.max(), -32768.0, 32767.0)
    wav = wav.astype(np.float32)  # us8k.py:96 `return fn, sample_rate, wav.astype(np.float32)`
    # test transforms, in protocol order (entries with "test": false are skipped)
    x = transforms.ToTensor1D()(wav)
    x = transforms.RandomPadding(out_len=OUT_LEN, train=False)(x)
    x = transforms.RandomCrop(out_len=OUT_LEN, train=False)(x)
    return x


@torch.no_grad()
def their_audio_embedding(tower: torch.nn.Module, audio: torch.Tensor) -> torch.Tensor:
    """(B, 2, 176400) -> (B, 1024): AC:model/audioclip.py:120-121 `encode_audio` = `self.audio(audio.to(self.device))`."""
    return tower(audio)


@torch.no_grad()
def their_condition(tower: torch.nn.Module, translator: torch.nn.Module, audio: torch.Tensor) -> torch.Tensor:
    """(B, 2, 176400) -> (B, 77, 768): FrozenAudioCLIPEmbedder.forward (GG:.../encoders/modules.py:338-343)."""
    audio_features = their_audio_embedding(tower, audio)
    # AC:model/audioclip.py:152 (GG vendored copy :153)
    audio_features = audio_features / audio_features.norm(dim=-1, keepdim=True)
    z = audio_features
    # GG:stable-diffusion/ldm/modules/encoders/modules.py:340-341
    z = z.reshape(z.shape[0], 16, 1024 // 16)
    z = translator(z) * (TENSOR_NORM / 2)
    return z


def their_text_mix(c: torch.Tensor, c_txt: torch.Tensor, i_signal: int) -> torch.Tensor:
    """GG:stable-diffusion/scripts/sound2img_audio_text_mix_loop.py:456-458 (loop `for i_signal in range(3, 8)`, :455)."""
    c_salient = torch.cat((c[:,:i_signal, :], c_txt[:, :i_signal,:]), dim=1)
    c_back = (c[:,i_signal*2:, :] + c_txt[:, i_signal*2:,:])/2
    c_in = torch.cat((c_salient, c_back), dim=1)
    return c_in
