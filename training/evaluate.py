"""`evaluate`: score an adapter on the cache's validation samples.

Always (no weights beyond the run's own; fixed noise and timesteps, so two adapters are comparable):
    loss_audio       ε-MSE with each sample's own audio
    loss_null        ε-MSE with the learned null tokens (audio dropped)
    loss_shuffled    ε-MSE with another sample's audio
    audio_gain       (loss_shuffled − loss_audio) / loss_shuffled: > 0 ⇔ the right sound helps denoise the
                     right image more than a wrong one
    label_accuracy   labelled data: images generated from the validation audio, classified by the nearest
                     per-label mean of the cached latents (4×4 average-pooled); chance = 1 / labels
The field's metrics (training/metrics.py), on images generated from the validation audio (Euler,
`eval.sample_steps`, CFG `eval.cfg_scale`), each when its feature network is given as a local file:
    AIS (eval.wav2clip + eval.clip), IIS and AIC (eval.clip; AIC needs labels), FID (eval.fid_weights), and the
    independent judge AIS_imagebind (eval.imagebind + eval.clip_vision: ImageBind audio × CLIP ViT-H images, with
    SonicDiffusion's ranking definition; training/judge.py).
Real images and audio are read from `data.source` (the files the cache was made from); without it the
real images are the VAE reconstructions of the cached latents and AIS is skipped.
Video runs (a cache prepared with data.video_frames, one audio embedding per frame): the losses as above, and
    AV_align         the AV-Align score (c2d_core.av_align: audio onsets against optical-flow peaks, IoU within one
                     frame) of each generated video (decoded by the VAE) with its source clip's sound, averaged
    AV_align_real    the same for the cached videos themselves (VAE reconstructions): what the data scores
instead of the image metrics (which score single pictures).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from c2d_core.adapter_file import load_adapter
from c2d_core.families import family_layout

from . import metrics as M
from .cache import CacheError
from .cache_reader import LatentCache, load_cache
from .config import Config
from .model import load_base, load_checkpoint
from .adm import adm_vector, batch_with_geometry, check_cache_fits, pooled_inputs, uses_adm
from .model_kind import reads_pooled
from .objective import Noise, diffusion_loss

log = logging.getLogger(__name__)


def merge_lora(unet: torch.nn.Module, lora: dict[str, torch.Tensor], strength: float = 1.0) -> int:
    """W += strength · alpha/rank · up @ down for every LoRA layer (ComfyUI key format); returns layers merged."""
    params = dict(unet.named_parameters())
    n = 0
    with torch.no_grad():
        for key in [k for k in lora if k.endswith(".lora_down.weight")]:
            name = key[len("diffusion_model."):-len(".lora_down.weight")]
            down, up = lora[key].float(), lora[key.replace(".lora_down.", ".lora_up.")].float()
            alpha = float(lora.get(key.replace(".lora_down.weight", ".alpha"), torch.tensor(down.shape[0])))
            w = params[f"{name}.weight"]
            w += (strength * alpha / down.shape[0] * (up @ down)).to(w.dtype)
            n += 1
    return n


def _pooled(x: torch.Tensor) -> torch.Tensor:
    return F.adaptive_avg_pool2d(x.float(), 4).flatten(1)


class _Images:
    """Latents (in the UNet's space) ↔ pictures (N, H, W, 3) in [0, 1] for this cache."""

    def __init__(self, cache: LatentCache, base, decode=None):
        self.vae_space = cache.encoders.get("latent_space") == "vae"
        self.base = base
        self._decode = decode
        if self.vae_space and base.vae is None:
            raise CacheError("the cache holds VAE latents but the model was loaded without its VAE")
        if not self.vae_space and decode is None:
            raise CacheError("the cache holds latents in the UNet's own space (no VAE decodes them, e.g. the toy task's):"
                             " give evaluate() a decode callable (toy.task.latent_to_rgb for the toy)")

    def to_unet(self, raw: torch.Tensor) -> torch.Tensor:
        return self.base.model.latent_format.process_in(raw) if self.vae_space else raw

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        if self.vae_space:
            return self.base.vae.decode(self.base.model.latent_format.process_out(x)).float().cpu()
        return self._decode(x)


def _source_samples(cfg: Config) -> dict:
    if not cfg.data.source:
        return {}
    from .data import DataError, discover
    try:
        samples, _ = discover(cfg.data.source, cfg.data.default_caption)
    except DataError as e:
        log.warning("data.source is not readable (%s): real images are VAE reconstructions, no AIS", e)
        return {}
    return {s.id: s for s in samples}


@torch.no_grad()
def evaluate(cfg: Config, *, adapter_path: str, out: str = "", base=None, fid_feature: torch.nn.Module | None = None,
             k_timesteps: int = 4, decode=None) -> dict:
    """Scores of the adapter (see the module docstring). `base` reuses a loaded model.Base (its UNet gets the
    adapter's LoRA merged in); `fid_feature` replaces the FID Inception (tests); `decode` maps latents of a
    cache in the UNet's own space (B, C, h, w) to pictures (B, H, W, 3) in [0, 1] (VAE caches need none)."""
    e = cfg.eval
    loaded = load_adapter(adapter_path)
    adapter = loaded.adapter
    cache = load_cache(cfg.cache_dir)
    _, val = cache.split(cfg.data.val_fraction, cfg.data.val_max)
    rows = (val if len(val) else torch.arange(len(cache)))[:e.max_samples]
    if len(rows) < 2:
        raise CacheError("evaluate needs at least 2 samples in the cache")
    if base is None:
        base = load_base(cfg.model, seed=cfg.train.seed) if cfg.model.tiny else load_checkpoint(cfg.model, vae=True)
    blocks, context_dim = family_layout(base.family).discover(base.unet)
    adapter.check_fits(blocks, context_dim, base.family)
    adapter.check_clap(cache.clap_dim)
    merged = merge_lora(base.unet, loaded.lora) if loaded.lora else 0
    images = _Images(cache, base, decode)
    b = cache.batch(rows)
    latent = images.to_unet(b["latent"])
    n = len(rows)
    y, uncond_y = None, None
    check_cache_fits(base.model, cache)
    if uses_adm(base.model):          # SDXL: pooled text + size conditioning (training/adm.py)
        b = batch_with_geometry(b)
        y = adm_vector(base.model, b["pooled"], b["size"])
        uncond_y = adm_vector(base.model, cache.null_pooled.expand(n, -1), b["size"])
    cond = pooled_inputs(base.model, b, cache.null_pooled)
    pooled = b["pooled"] if reads_pooled(base.model) else None     # Flux, SD3

    # --- denoising losses ---------------------------------------------------------------------------
    shuffled = b["clap"][torch.roll(torch.arange(n), 1)]
    losses = {"loss_audio": 0.0, "loss_null": 0.0, "loss_shuffled": 0.0}
    for k in range(k_timesteps):
        g = torch.Generator().manual_seed(1000 + k)
        t = int((k + 0.5) / k_timesteps * len(base.model_sampling.sigmas))
        noise = torch.randn(latent.shape, generator=g)
        for name, clap, null in (("loss_audio", b["clap"], False), ("loss_null", b["clap"], True),
                                 ("loss_shuffled", shuffled, False)):
            rnd = Noise(noise=noise, t=torch.full((n,), t), null_audio=torch.full((n,), null),
                        null_text=torch.zeros(n, dtype=torch.bool))
            losses[name] += float(diffusion_loss(base.model, adapter, latent, b["text"], cache.null_text, clap,
                                                 rnd, context_len=b.get("text_len"), **cond)) / k_timesteps
    result = {"adapter": str(adapter_path), "samples": n, "lora_layers_merged": merged, **losses,
              "audio_gain": (losses["loss_shuffled"] - losses["loss_audio"]) / losses["loss_shuffled"],
              "cfg_scale": e.cfg_scale, "guidance": e.guidance, "sample_steps": e.sample_steps}

    # --- generated images ---------------------------------------------------------------------------
    from .sampling import sample

    uncond = cache.null_text if e.guidance == "text+audio" else None
    lengths = b.get("text_len")
    bs = max(1, cfg.train.batch_size) if lengths is None else 1     # captions of several lengths: one at a time
    text = (lambda i: b["text"][i:i + bs]) if lengths is None else (lambda i: b["text"][i:i + 1, :int(lengths[i])])
    gen_latents = torch.cat([
        sample(base.model, adapter, (len(rows[i:i + bs]),) + tuple(latent.shape[1:]), text(i),
               b["clap"][i:i + bs], steps=e.sample_steps, audio_cfg=e.cfg_scale, seed=e.seed + i,
               uncond_context=uncond, device=latent.device, y=None if y is None else y[i:i + bs],
               uncond_y=None if uncond_y is None else uncond_y[i:i + bs],
               pooled=None if pooled is None else pooled[i:i + bs], uncond_pooled=cache.null_pooled)
        for i in range(0, n, bs)])
    skipped: dict[str, str] = {}
    labels = [cache.labels[i] for i in rows.tolist()]
    names = sorted({lbl for lbl in cache.labels if lbl is not None})
    video = len(cache.latent_shape) == 4                 # (C, T, h, w): a video run
    labelled = all(lbl is not None for lbl in labels) and len(names) > 1 and not video
    if video:
        result.update(_sync_scores(cfg, cache, rows, gen_latents, latent, images))
        skipped.update({k: "a video run: scored by AV-Align" for k in ("AIS", "IIS", "AIC", "FID", "AIS_imagebind")})
        return _write(result, skipped, out)
    if labelled:
        feats = torch.cat([_pooled(images.to_unet(cache.batch(torch.arange(i, min(i + 256, len(cache))))["latent"]))
                           for i in range(0, len(cache), 256)])     # every cached latent, 256 at a time
        y_all = torch.tensor([names.index(lbl) if lbl is not None else -1 for lbl in cache.labels])
        centroids = torch.stack([feats[y_all == i].mean(0) for i in range(len(names))])
        pred = torch.cdist(_pooled(gen_latents), centroids).argmin(1)
        y = torch.tensor([names.index(lbl) for lbl in labels])
        result.update(label_accuracy=float((pred == y).float().mean()), label_chance=1 / len(names))

    judge = bool(e.imagebind and e.clip_vision)
    wants_images = bool(e.clip or e.fid_weights or fid_feature is not None or judge)
    if wants_images:
        generated = torch.cat([images.decode(gen_latents[i:i + bs]) for i in range(0, n, bs)])
        sources = _source_samples(cfg)
        ids = [cache.ids[i] for i in rows.tolist()]
        if sources and all(i in sources for i in ids):
            from .data import load_image
            real = torch.stack([load_image(sources[i].image, generated.shape[1], cfg.data.video_frame) for i in ids])
            result["real_images"] = "data.source files"
        else:
            real = torch.cat([images.decode(latent[i:i + bs]) for i in range(0, n, bs)])
            result["real_images"] = "decoded cached latents"
            sources = {}
        if e.clip:
            clip = M.ClipScorer.from_path(e.clip)
            gen_emb, real_emb = clip.images(generated), clip.images(real)
            result["IIS"] = M.iis(gen_emb, real_emb)
            if labelled:
                prompts = [e.class_prompt.format(label=lbl) for lbl in names]
                result["AIC"] = M.aic(gen_emb, clip.texts(prompts), torch.tensor([names.index(lbl) for lbl in labels]))
            else:
                skipped["AIC"] = "the samples have no labels"
            if e.wav2clip and sources:
                from .data import load_audio
                w2c = M.Wav2ClipEncoder.from_path(e.wav2clip)
                audio = w2c.encode([load_audio(sources[i].audio, cfg.data.max_audio_seconds) for i in ids])
                result["AIS"] = M.ais(audio, gen_emb)
            else:
                skipped["AIS"] = ("no eval.wav2clip" if not e.wav2clip else
                                  "the audio files are not readable from data.source")
        else:
            skipped.update({k: "no eval.clip" for k in ("AIS", "IIS", "AIC")})
        if judge and sources:
            from .data import load_audio
            from .judge import ImageBindJudge
            clips = [load_audio(sources[i].audio, cfg.data.max_audio_seconds) for i in ids]
            result.update(ImageBindJudge.from_paths(e.imagebind, e.clip_vision).scores(clips, generated))
        else:
            skipped["AIS_imagebind"] = ("no eval.imagebind / eval.clip_vision" if not judge else
                                        "the audio files are not readable from data.source")
        if e.fid_weights or fid_feature is not None:
            result["FID"] = M.fid(real, generated, weights=e.fid_weights, feature=fid_feature)
        else:
            skipped["FID"] = "no eval.fid_weights"
    else:
        skipped.update({"AIS": "no eval.clip / eval.wav2clip", "IIS": "no eval.clip", "AIC": "no eval.clip",
                        "FID": "no eval.fid_weights", "AIS_imagebind": "no eval.imagebind / eval.clip_vision"})
    return _write(result, skipped, out)


def _write(result: dict, skipped: dict, out: str) -> dict:
    if skipped:
        result["not_computed"] = skipped
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=1))
    return result


def _sync_scores(cfg: Config, cache: LatentCache, rows: torch.Tensor, generated: torch.Tensor,
                 cached: torch.Tensor, images: "_Images") -> dict:
    """AV_align of the generated and of the cached videos with their source clips' sound (the first
    (frames − 1) / fps + 1 s of it). generated / cached: (n, C, T, h, w) in the model's latent space."""
    from c2d_core.av_align import av_align

    from .data import load_audio

    if not images.vae_space:
        return {"not_computed_sync": "the cache's latents are not a VAE's: no frames to score"}
    sources = _source_samples(cfg)
    ids = [cache.ids[i] for i in rows.tolist()]
    if not all(i in sources for i in ids):
        return {"not_computed_sync": "the clips' sound is not readable from data.source"}
    fps = cfg.data.fps
    gen, real = [], []
    for j, sid in enumerate(ids):
        frames_gen, frames_real = (images.decode(x[j:j + 1]) for x in (generated, cached))
        frames_gen, frames_real = (f.reshape(-1, *f.shape[-3:]) for f in (frames_gen, frames_real))   # (F, H, W, 3)
        n = frames_gen.shape[0]
        wav, rate = load_audio(sources[sid].audio, (n - 1) / fps + 1.0)
        gen.append(av_align(frames_gen, fps, wav, rate).score)
        real.append(av_align(frames_real, fps, wav, rate).score)
    return {"AV_align": float(sum(gen) / len(gen)), "AV_align_real": float(sum(real) / len(real)),
            "AV_align_per_clip": [round(v, 4) for v in gen], "fps": fps}
