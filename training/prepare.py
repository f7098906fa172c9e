"""`prepare`: encode every (audio, image, caption) sample once into the cache (see cache.py).

Audio embeddings come from `c2d_core.encoder_registry.load_audio_encoder` (the nodes' encoders), VAE latents
and text embeddings from the user's own checkpoint through ComfyUI's loader (`vae.encode`,
`clip.encode_from_tokens`). For SDXL checkpoints (ADM conditioning) the text is both encoders' (77, 2048)
context plus the pooled embedding (1280), and each image's geometry is kept for the size/crop
conditioning: original size before the resize, crop offset, target size = data.resolution. Latents are stored as ComfyUI LATENTs (raw VAE space); the trainer
applies the model's `latent_format.process_in` like the sampler does. A sample that cannot be read
is skipped and listed in `skipped.json`; a re-run only encodes new or changed samples (and does not
even load the checkpoint when nothing changed).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from c2d_core.errors import C2DError

from .cache import CacheWriter, Manifest, merge_parts
from .config import Config
from .data import DataError, Sample, SampleError, discover, load_audio, load_image_with_geometry
from .model_kind import caches_pooled

log = logging.getLogger(__name__)


@dataclass
class PrepareReport:
    cache: Path
    total: int = 0            # usable samples in the cache after this run
    encoded: int = 0          # samples encoded by this run (the rest were already current)
    skipped: dict = field(default_factory=dict)


def _settings(cfg: Config) -> str:
    d = cfg.data
    video = f"|video={d.video_frames}@{d.fps:g}|win={d.audio_window:g}" if d.video_frames else ""
    return f"res={d.resolution}|sec={d.max_audio_seconds}|frame={d.video_frame}{video}"


def _encoders(cfg: Config, clap) -> dict:
    """Identity of the encoders a cache was made with (a cache is only extended by the same ones)."""
    ckpt = Path(cfg.model.checkpoint).expanduser()
    if not ckpt.is_file():
        raise FileNotFoundError(f"model.checkpoint: {ckpt} does not exist")
    separate = {"text_encoders": [Path(f).name for f in cfg.model.text_encoders],
                "vae": Path(cfg.model.vae).name} if cfg.model.text_encoders else {}
    return {"latent_space": "vae", "checkpoint": ckpt.name, "checkpoint_bytes": os.path.getsize(ckpt),
            "clap_model_id": clap.model_id, "clap_dim": int(clap.embed_dim), "resolution": cfg.data.resolution,
            **separate}


def _text_encoder(clip, pooled: bool):
    cache: dict[str, tuple] = {}

    def encode(caption: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """caption → ((L, D) conditioning, as CLIPTextEncode makes it; its (P,) pooled_output, or None when
        not `pooled`). L may differ between captions (Qwen-Image's and Z-Image's encoders do not pad; a CLIP
        prompt over 77 tokens takes another chunk): the cache stores each at its own length."""
        if caption not in cache:
            tokens = clip.tokenize(caption)
            if pooled:
                cond, pool = clip.encode_from_tokens(tokens, return_pooled=True)
                cache[caption] = (cond[0].float().cpu(), pool[0].float().cpu())
            else:
                cache[caption] = (clip.encode_from_tokens(tokens)[0].float().cpu(), None)
        return cache[caption]

    return encode


def _uses_adm(base) -> bool:
    """Whether the checkpoint's family conditions on pooled text + image size (SDXL), from the family's layout."""
    from c2d_core.families import family_layout

    return bool(family_layout(base.family).adm_in_channels)


def prepare(cfg: Config, *, clap_encoder=None, base=None) -> PrepareReport:
    """Encode the samples of cfg.data.source that the cache lacks. clap_encoder / base (a `model.Base`
    with clip and vae) may be given to reuse loaded models; by default they are loaded from the config."""
    samples, unpaired = discover(cfg.data.source, cfg.data.default_caption)
    if cfg.model.tiny or not cfg.model.checkpoint:
        raise DataError("prepare encodes images and captions with the checkpoint's VAE and text encoder: set "
                        "model.checkpoint (--model PATH) to the checkpoint you train on (a diffusion-model-only file "
                        "also needs model.text_encoders and model.vae)")
    if not cfg.clap.model and clap_encoder is None:
        raise DataError("prepare needs the CLAP model for the audio embeddings: set clap.model (--clap PATH) to a "
                        "CLAP folder or checkpoint, or ImageBind's imagebind_huge.pth")
    from .model import load_encoders

    if clap_encoder is None:
        from c2d_core.encoder_registry import load_audio_encoder
        clap_encoder = load_audio_encoder(cfg.clap.model)
    rank, world, barrier = _processes()
    writer = CacheWriter(cfg.cache_dir, _encoders(cfg, clap_encoder), shard_size=cfg.data.shard_size,
                         part=f"r{rank}-" if world > 1 else "")
    settings = _settings(cfg)
    fingerprint = {s.id: s.fingerprint(settings) for s in samples}
    m = writer.manifest
    for sid in [k for k in m.samples if k not in fingerprint]:   # files removed from the source
        m.samples.pop(sid)
    old_skipped, m.skipped = m.skipped, dict(unpaired)
    m.failed = {k: v for k, v in m.failed.items() if fingerprint.get(k) == v}   # unreadable and unchanged
    for sid in m.failed:
        m.skipped[sid] = old_skipped.get(sid, "unreadable in an earlier run")
    todo = [s for s in samples if not writer.is_current(s.id, fingerprint[s.id]) and s.id not in m.failed]
    log.info("prepare: %d samples, %d already in %s, %d to encode%s", len(samples), len(samples) - len(todo),
             cfg.cache_dir, len(todo), f" (process {rank} of {world}: every {world}th)" if world > 1 else "")
    todo = todo[rank::world]
    report = PrepareReport(cache=cfg.cache_dir)
    if not todo and (cfg.cache_dir / "null_text.safetensors").is_file():
        return _finish(writer, report, cfg, barrier)    # nothing new: the checkpoint is not even loaded
    if base is None:
        base = load_encoders(cfg.model)
    sdxl = _uses_adm(base)
    text = _text_encoder(base.clip, pooled=caches_pooled(base.family))
    res = cfg.data.resolution
    bar = None
    if cfg.train.progress and todo:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(todo), desc="prepare", dynamic_ncols=True)
    video = _video_frames(cfg, base)
    for start in range(0, len(todo), cfg.data.encode_batch):
        chunk = todo[start:start + cfg.data.encode_batch]
        if video:
            for s in chunk:
                report.encoded += _add_video(writer, s, fingerprint[s.id], cfg, clap_encoder, base, text, video)
            if bar is not None:
                bar.update(len(chunk))
            continue
        decoded: list[tuple[Sample, torch.Tensor, torch.Tensor, tuple]] = []
        for s in chunk:
            try:
                wav, rate = load_audio(s.audio, cfg.data.max_audio_seconds)
                emb = clap_encoder.encode(wav[None], rate)[0].float().cpu()
                if not torch.isfinite(emb).all():
                    raise SampleError("CLAP embedding is not finite")
                image, geometry = load_image_with_geometry(s.image, res, cfg.data.video_frame)
                decoded.append((s, emb, image, geometry))
            except (SampleError, C2DError) as e:   # C2DError: audio the CLAP encoder refuses
                writer.skip(s.id, str(e), fingerprint[s.id])
                log.warning("skipped %s: %s", s.id, e)
        if decoded:
            pixels = torch.stack([img for _, _, img, _ in decoded])          # (B, H, W, 3) in [0, 1]
            with torch.no_grad():
                latents = base.vae.encode(pixels).float().cpu()              # (B, C, H/8, W/8) raw VAE latents
            for (s, emb, _, geometry), lat in zip(decoded, latents):
                cond, pool = text(s.caption)
                writer.add(s.id, fingerprint[s.id], clap=emb, latent=lat, text=cond, caption=s.caption,
                           label=s.label, pooled=pool, size=(*geometry, res, res) if sdxl else None)
                report.encoded += 1
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    if rank == 0:
        writer.set_null_text(*text(""))
    return _finish(writer, report, cfg, barrier)


def _video_frames(cfg: Config, base) -> int:
    """data.video_frames, checked against the family: a video family (Wan) and a frame count its VAE takes."""
    n = cfg.data.video_frames
    if n <= 0:
        return 0
    from c2d_core.families import family_name, family_spec

    stride = family_spec(base.family).frame_stride
    if not stride:
        raise DataError(f"data.video_frames={n} encodes videos, but {family_name(base.family)} is an image model; "
                        "set data.video_frames=0 (one frame per sample) or prepare with a Wan checkpoint")
    if (n - 1) % stride:
        raise DataError(f"data.video_frames={n}: {family_name(base.family)}'s VAE takes {stride}·k + 1 frames; use "
                        f"{n - (n - 1) % stride} or {n - (n - 1) % stride + stride}")
    return n


def _add_video(writer: CacheWriter, s: Sample, fingerprint: str, cfg: Config, clap_encoder, base, text,
               frames: int) -> int:
    """Encode one video sample: its first `frames` frames at data.fps through the VAE into one video latent
    (C, T, H/8, W/8), and its sound into one embedding per frame (the Audio Timeline's windows). 1 if added, 0 if
    skipped (listed with the reason)."""
    from c2d_core.timeline import encode_timeline

    from .data import load_video_frames

    d = cfg.data
    try:
        pixels = load_video_frames(s.image, frames, d.fps, d.resolution)       # (F, R, R, 3) in [0, 1]
        wav, rate = load_audio(s.audio, max(d.max_audio_seconds, (frames - 1) / d.fps + d.audio_window))
        embeds, _ = encode_timeline(clap_encoder, wav, rate, d.fps, d.audio_window, n_frames=frames)
        if not torch.isfinite(embeds).all():
            raise SampleError("CLAP embedding is not finite")
        with torch.no_grad():
            latent = base.vae.encode(pixels).float().cpu()                     # (1, C, T, H/8, W/8)
    except (SampleError, C2DError) as e:
        writer.skip(s.id, str(e), fingerprint)
        log.warning("skipped %s: %s", s.id, e)
        return 0
    cond, pool = text(s.caption)
    writer.add(s.id, fingerprint, clap=embeds.float().cpu(), latent=latent[0], text=cond, caption=s.caption,
               label=s.label, pooled=pool)
    return 1


def _processes() -> tuple[int, int, object]:
    """(rank, world size, barrier) of a multi-process prepare (`accelerate launch` / `torchrun ... -m training
    prepare`: each process encodes every world-th new sample into its own files, process 0 merges the manifests);
    (0, 1, no-op) for one process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, lambda: None
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())      # as the trainer's Accelerator: gloo on CPUs
    return state.process_index, state.num_processes, state.wait_for_everyone


def _finish(writer: CacheWriter, report: PrepareReport, cfg: Config, barrier=lambda: None) -> PrepareReport:
    writer.close()
    barrier()                        # every process has written its files and manifest
    manifest = writer.manifest
    if writer.part:
        if writer.part == "r0-":
            merge_parts(cfg.cache_dir)
        barrier()                    # the merged manifest is there for every process
        manifest = Manifest.read(cfg.cache_dir)
    report.total = len(manifest.samples)
    report.skipped = dict(manifest.skipped)
    if report.total == 0:
        raise DataError(f"no sample of {cfg.data.source} could be read ({len(report.skipped)} skipped; see "
                        f"{cfg.cache_dir / 'skipped.json'})")
    return report

