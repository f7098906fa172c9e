"""The training loop: reads the stages (data) and runs them with accelerate.

A run is a pure function of the config and `train.seed`: the samples of micro-batch m of optimizer
step s on process r, their noise, timesteps and dropout masks all come from generators seeded by
(seed, s, m, r). A resumed run therefore continues exactly where the checkpoint left off.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from pathlib import Path

import torch

from c2d_core.families import family_layout, objective_of

from .adapter_setup import build_adapter_for
from .adm import batch_with_geometry, check_cache_fits, pooled_inputs, uses_adm
from .batches import BatchSampler, stream_noise, validation_noise
from .cache import CacheError, atomic_write_bytes
from .cache_reader import load_cache
from .checkpoints import (Checkpointer, TrainState, list_checkpoints, load_checkpoint, load_latest, resolve_resume,
                          set_rng_state)
from .config import Config, ConfigError
from .config_io import to_toml
from .export import lora_to_comfy, write_adapter
from .grad_checkpoint import enable_gradient_checkpointing
from .host import differentiable_kernels
from .interrupt import StopOnSignal
from .logs import RunLog, plot_loss
from .lora import UNetLora, lora_targets
from .model import load_base, unet_dtype
from .objective import Noise, diffusion_loss
from .resume import check_resume_config
from .run_state import StageRun, TrainResult, fresh_accelerate_state
from .stages import Stage, apply_stage, make_optimizer, resolve_stages
from .trainable import StageModule, Trainable

log = logging.getLogger(__name__)


class Trainer:
    def __init__(self, cfg: Config, *, resume: str = "", stop_after: int | None = None):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs

        self.cfg = cfg
        self.stop_after = stop_after   # stop (checkpoint and return, as on Ctrl-C) after this many steps of this call
        t = cfg.train
        fresh_accelerate_state(t.mixed_precision)
        self.acc = Accelerator(mixed_precision=t.mixed_precision, cpu=not torch.cuda.is_available(),
                               kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
        self.is_main = self.acc.is_main_process
        self.rank, self.world = self.acc.process_index, self.acc.num_processes
        self.device = self.acc.device
        self.run_dir = Path(t.run_dir)
        self.stages = resolve_stages(cfg)

        if not resume and list_checkpoints(self.run_dir):
            raise ConfigError(f"{self.run_dir} already holds checkpoints of a run: continue it with --resume latest, "
                              "or choose a new train.run_dir (or delete the old one)")
        if resume == "latest":
            self.ckpt = load_latest(self.run_dir, self.rank)
        else:
            path = resolve_resume(self.run_dir, resume) if resume else None
            self.ckpt = load_checkpoint(path, self.rank) if path else None
        if resume and self.ckpt is None:
            log.info("--resume %s: no checkpoint in %s yet; starting from the beginning", resume, self.run_dir)
        if self.ckpt is not None:
            check_resume_config(self.ckpt.config["config"], cfg)

        self.cache = load_cache(cfg.cache_dir)
        self.train_rows, self.val_rows = self.cache.split(cfg.data.val_fraction, cfg.data.val_max)
        if len(self.train_rows) == 0:
            raise CacheError("no training samples left after the validation split; add data or lower data.val_fraction")
        self.null_text = self.cache.null_text.to(self.device)

        dtype = unet_dtype(cfg.model, t.mixed_precision, self.device)
        self.base = load_base(cfg.model, seed=t.seed, dtype=dtype)
        self.base.model.to(self.device)
        check_cache_fits(self.base.model, self.cache)
        if t.snr_gamma > 0 and objective_of(self.base.model_sampling) == "flow":
            raise ConfigError(f"train.snr_gamma={t.snr_gamma} weights ε-prediction losses, but {self.base.family} "
                              "models train with flow matching: set train.snr_gamma=0")
        self.uses_adm = uses_adm(self.base.model)
        self.null_pooled = None if self.cache.null_pooled is None else self.cache.null_pooled.to(self.device)
        if cfg.model.gradient_checkpointing:
            enable_gradient_checkpointing(self.base.unet, family_layout(self.base.family))
        adapter = build_adapter_for(cfg, self.base, self.cache)
        lora = None
        if any("lora" in s.groups for s in self.stages):
            lora = UNetLora(self.base.unet, rank=cfg.lora.rank, alpha=cfg.lora.alpha,
                            targets=lora_targets(cfg.lora.targets, family_layout(self.base.family)), seed=t.seed)
        self.trainable = Trainable(adapter, lora, self.base).to(self.device)
        self.trainable.snr_gamma = t.snr_gamma
        if lora is not None:
            lora.attach(self.base.unet)
        self.state = TrainState()
        self._resume_optim = None   # (stage index, optimizer state, scheduler state, best weights), used once
        if self.ckpt is not None:
            self.trainable.load_state_dict(self.ckpt.trainable)
            self.state = TrainState(**dataclasses.asdict(self.ckpt.state))
            if self.state.stage_step > 0 and not self.state.stage_done:
                self._resume_optim = (self.state.stage, self.ckpt.optimizer, self.ckpt.scheduler, self.ckpt.best)
            if self.ckpt.rng is not None:
                set_rng_state(self.ckpt.rng)
            log.info("resuming %s from step %d (stage %s, step %d of it)", self.ckpt.path, self.state.step,
                     self.stages[min(self.state.stage, len(self.stages) - 1)].name, self.state.stage_step)
        self.sampler = BatchSampler(self.train_rows, t.batch_size, t.grad_accum, self.world, t.seed)
        self.n_timesteps = len(self.base.model_sampling.sigmas)
        self.run_info = {"base": self.base.source, "base_kind": self.base.kind, "family": self.base.family,
                         "samples": len(self.train_rows), "val_samples": len(self.val_rows),
                         "processes": self.world, "cache_encoders": self.cache.encoders}

    # ---- pieces ---------------------------------------------------------------------------------
    def run_config(self) -> dict:
        return {"config": self.cfg.to_dict(), "adapter_config": self.trainable.adapter.config.to_json(),
                "run": self.run_info}

    def _batch(self, idx: torch.Tensor) -> dict:
        b = {k: v.to(self.device) for k, v in self.cache.batch(idx).items()}
        if self.cache.encoders.get("latent_space") == "vae":   # ComfyUI LATENTs → what the UNet sees
            b["latent"] = self.base.model.latent_format.process_in(b["latent"])
        return batch_with_geometry(b) if self.uses_adm else b

    def _cond(self, b: dict) -> dict:
        """The pooled-vector keyword arguments of diffusion_loss for batch b (SDXL, Flux, SD3; none for SD1.5)."""
        return pooled_inputs(self.base.model, b, self.null_pooled)

    def _noise(self, shape, step: int, micro: int) -> Noise:
        t = self.cfg.train
        return stream_noise(self.sampler.positions(step, micro, self.rank), shape, self.n_timesteps, t.seed,
                            t.audio_dropout, t.text_dropout)

    @torch.no_grad()
    def validation_loss(self, k_timesteps: int = 4) -> float | None:
        """Mean ε-MSE on the validation rows at k fixed timesteps each, fixed noise, audio and text on."""
        if len(self.val_rows) == 0:
            return None
        total, count = 0.0, 0
        bs = max(1, self.cfg.train.batch_size)
        for start in range(0, len(self.val_rows), bs):
            idx = self.val_rows[start:start + bs]
            b = self._batch(idx)
            for k in range(k_timesteps):
                rnd = validation_noise(start=start, n=len(idx), shape=tuple(b["latent"].shape), k=k,
                                       k_timesteps=k_timesteps, n_timesteps=self.n_timesteps, seed=self.cfg.train.seed)
                with self.acc.autocast():
                    loss = diffusion_loss(self.base.model, self.trainable.adapter, b["latent"], b["text"],
                                          self.null_text, b["clap"], rnd, self.cfg.train.snr_gamma,
                                          context_len=b.get("text_len"), **self._cond(b))
                total += float(loss) * len(idx)
                count += len(idx)
        return total / count

    def _gates(self) -> tuple[float, float]:
        g = torch.stack([m.gate.detach().float() for m in self.trainable.adapter.blocks.values()]).tanh().abs()
        return float(g.mean()), float(g.max())

    def _trainable_state(self) -> dict:
        return {k: v.detach().clone() for k, v in self.trainable.state_dict().items()}

    def save(self, optimizer, scheduler, best: dict | None) -> Path:
        return self.checkpointer.save(self.state, self._trainable_state(), optimizer, scheduler, self.run_config(),
                                      best=best)

    # ---- the run ----------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """The stages from where the run stands; ComfyUI's models on their differentiable paths throughout."""
        with differentiable_kernels():
            return self._run()

    def _run(self) -> TrainResult:
        cfg, t = self.cfg, self.cfg.train
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.run_dir / "config.toml", to_toml(cfg).encode())
        self.checkpointer = Checkpointer(self.run_dir, t.keep_checkpoints, is_main=self.is_main, rank=self.rank,
                                         barrier=self.acc.wait_for_everyone)
        runlog = RunLog(self.run_dir, resume_step=self.state.step if self.ckpt else None,
                        tensorboard=t.tensorboard) if self.is_main else None
        total = sum(s.steps for s in self.stages)
        bar = None
        if self.is_main and t.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=total, initial=min(self._steps_done(), total), desc="train", dynamic_ncols=True)
        interrupted = False
        last_val = None
        self._first_step = self.state.step
        try:
            with StopOnSignal() as stop:
                while self.state.stage < len(self.stages):
                    stage = self.stages[self.state.stage]
                    if not self.state.stage_done and stage.steps > 0:
                        interrupted, last_val = self._run_stage(stage, stop, runlog, bar)
                        if interrupted:
                            break
                    self._next_stage()
                    if self.state.stage < len(self.stages) and self._should_stop(stop):
                        interrupted = True   # the stage's end was just checkpointed
                        break
        finally:
            if bar is not None:
                bar.close()
            if runlog is not None:
                runlog.close()
        adapter_path = None
        if self.is_main:
            plot_loss(self.run_dir / "logs" / "train.csv", self.run_dir / "loss_curve.png",
                      title=f"{self.run_dir.name}: {' → '.join(s.name for s in self.stages)}")
            if not interrupted:
                adapter_path = self.export(self.run_dir / "adapter.safetensors")
        self.acc.wait_for_everyone()
        return TrainResult(run_dir=self.run_dir, step=self.state.step, interrupted=interrupted,
                           adapter_path=adapter_path, val_loss=last_val, stages=[s.name for s in self.stages])

    def _should_stop(self, stop: StopOnSignal) -> bool:
        """Ctrl-C / SIGTERM on any process, or --stop-after reached (the same answer on every process)."""
        want = stop.flag or (self.stop_after is not None and self.state.step - self._first_step >= self.stop_after)
        if self.world > 1:
            want = bool(self.acc.reduce(torch.tensor(float(want), device=self.device), "sum") > 0)
        return want

    def _steps_done(self) -> int:
        done = sum(s.steps for s in self.stages[:self.state.stage])
        return done + (self.state.stage_step if self.state.stage < len(self.stages) else 0)

    def _next_stage(self) -> None:
        self.state = dataclasses.replace(self.state, stage=self.state.stage + 1, stage_step=0, stage_done=False,
                                         best_val=None, bad_evals=0)

    def begin_stage(self, stage: Stage) -> "StageRun":
        """Freeze/unfreeze for the stage, build (or restore) its optimizer and schedule, wrap for accelerate."""
        t = self.cfg.train
        groups = apply_stage(stage, self.trainable.adapter, self.trainable.lora, t.weight_decay)
        optimizer, scheduler = make_optimizer(groups, stage, self.cfg)
        best = None
        if self._resume_optim is not None and self._resume_optim[0] == stage.index:
            _, opt_state, sched_state, best = self._resume_optim
            if opt_state is not None:
                optimizer.load_state_dict(opt_state)
            if sched_state is not None:
                scheduler.load_state_dict(sched_state)
        self._resume_optim = None
        model, optimizer = self.acc.prepare(StageModule(self.trainable), optimizer)
        model.train()
        return StageRun(stage=stage, model=model, optimizer=optimizer, scheduler=scheduler,
                        params=[p for g in groups for p in g["params"]], best=best)

    def train_step(self, run: "StageRun") -> tuple[float, float | None]:
        """One optimizer step at self.state.step (grad_accum micro-batches); returns (loss, grad norm)."""
        t, acc, step = self.cfg.train, self.acc, self.state.step
        step_loss = 0.0
        for micro in range(t.grad_accum):
            b = self._batch(self.sampler.indices(step, micro, self.rank))
            rnd = self._noise(tuple(b["latent"].shape), step, micro)
            sync = micro == t.grad_accum - 1
            with contextlib.nullcontext() if sync or self.world == 1 else acc.no_sync(run.model):
                with acc.autocast():
                    c = self._cond(b)
                    loss = run.model(b["latent"], b["text"], self.null_text, b["clap"], rnd.noise.to(self.device),
                                     rnd.t.to(self.device), rnd.null_audio.to(self.device),
                                     rnd.null_text.to(self.device), c.get("pooled"), c.get("null_pooled"),
                                     c.get("sizes"), b.get("text_len"))
                acc.backward(loss / t.grad_accum)
            step_loss += float(loss.detach()) / t.grad_accum
        grad_norm = float(acc.clip_grad_norm_(run.params, t.max_grad_norm)) if t.max_grad_norm > 0 else None
        run.optimizer.step()
        run.scheduler.step()
        run.optimizer.zero_grad(set_to_none=True)
        if not math.isfinite(step_loss):
            raise FloatingPointError(f"loss is {step_loss} at step {step} (stage {run.stage.name}); lower train.lr or "
                                     "use mixed_precision=no; resume from the last checkpoint")
        return step_loss, grad_norm

    def _run_stage(self, stage: Stage, stop: StopOnSignal, runlog: RunLog | None, bar) -> tuple[bool, float | None]:
        t, acc = self.cfg.train, self.acc
        run = self.begin_stage(stage)
        log.info("stage %d/%d %s: %d steps, training %s (lr %s)", stage.index + 1, len(self.stages), stage.name,
                 stage.steps, ", ".join(stage.groups), {g: f"{lr:.2g}" for g, lr in stage.lr.items()})

        def evaluate_and_maybe_stop() -> bool:
            val = self.validation_loss()
            if val is None:
                return False
            self.state.history.append([self.state.step, stage.name, val])
            if self.state.best_val is None or val < self.state.best_val - stage.min_delta:
                self.state.best_val, self.state.bad_evals = val, 0
                run.best = self._trainable_state()
            else:
                self.state.bad_evals += 1
            if runlog is not None:
                runlog.row(step=self.state.step, stage=stage.name, stage_step=self.state.stage_step, val_loss=f"{val:.6g}")
            return self.state.bad_evals >= stage.patience

        if stage.early_stopping and len(self.val_rows) == 0:
            log.warning("stage %s: no validation samples, so no early stopping (raise data.val_fraction)", stage.name)
        early = stage.early_stopping and len(self.val_rows) > 0
        if early and self.state.stage_step == 0 and self.state.best_val is None:
            evaluate_and_maybe_stop()   # the starting point is a candidate too: stage 3 never makes it worse

        window: list[float] = []
        t_window = time.perf_counter()
        t_start = time.perf_counter()
        stopped_early = False
        last_val = None
        while self.state.stage_step < stage.steps:
            step_loss, grad_norm = self.train_step(run)
            self.state.step += 1
            self.state.stage_step += 1
            window.append(step_loss)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(stage=stage.name, loss=f"{step_loss:.4f}", refresh=False)

            if early and (self.state.stage_step % stage.eval_every == 0 or self.state.stage_step == stage.steps):
                stopped_early = evaluate_and_maybe_stop() and self.state.stage_step < stage.steps
                last_val = self.state.best_val
            elif t.val_every and self.state.stage_step % t.val_every == 0 and self.is_main and runlog is not None:
                last_val = self.validation_loss()
                if last_val is not None:
                    runlog.row(step=self.state.step, stage=stage.name, stage_step=self.state.stage_step,
                               val_loss=f"{last_val:.6g}")
            if self.state.stage_step % t.log_every == 0 or self.state.stage_step == stage.steps or stopped_early:
                mean = torch.tensor(sum(window) / len(window), device=self.device)
                if self.world > 1:
                    mean = acc.reduce(mean, "mean")
                elapsed = time.perf_counter() - t_window
                if runlog is not None:
                    gm, gx = self._gates()
                    rate = len(window) * t.batch_size * t.grad_accum * self.world / max(elapsed, 1e-9)
                    runlog.row(step=self.state.step, stage=stage.name, stage_step=self.state.stage_step,
                               loss=f"{float(mean):.6g}", lr=f"{run.scheduler.get_last_lr()[0]:.4g}",
                               grad_norm="" if grad_norm is None else f"{grad_norm:.4g}", gate_mean=f"{gm:.4g}",
                               gate_max=f"{gx:.4g}", samples_per_s=f"{rate:.3g}",
                               elapsed_s=f"{time.perf_counter() - t_start:.1f}")
                window, t_window = [], time.perf_counter()

            want_stop = self._should_stop(stop)
            done = self.state.stage_step >= stage.steps or stopped_early
            if done:
                break
            if want_stop or self.state.step % t.checkpoint_every == 0:
                self.save(run.optimizer, run.scheduler, run.best)
                if want_stop:
                    log.warning("stopped at step %d; checkpoint saved. Continue with: python -m training train "
                                "--config %s --resume latest", self.state.step, self.run_dir / "config.toml")
                    acc.free_memory()
                    return True, last_val

        if early and run.best is not None:
            self.trainable.load_state_dict(run.best)
            log.info("stage %s: kept the best weights (validation loss %.5g)%s", stage.name, self.state.best_val,
                     " — stopped early" if stopped_early else "")
        self.state.stage_done = True
        self.save(run.optimizer, run.scheduler, None)
        acc.free_memory()
        return False, last_val

    def export(self, out: Path, lora_out: Path | None = None) -> Path:
        adapter = self.trainable.adapter
        lora = {}
        if self.trainable.lora is not None:
            lora = lora_to_comfy({k[len("lora."):]: v for k, v in self.trainable.state_dict().items()
                                  if k.startswith("lora.")}, self.cfg.lora.alpha)
        info = dict(self.run_config()["config"], run=dict(self.run_info, step=self.state.step,
                                                          early_stopping=self.state.history))
        write_adapter(out, adapter, lora, info, lora_out)
        log.info("exported %s (%d blocks%s)", out, len(adapter.blocks), f", LoRA on {len(lora) // 3} layers" if lora else "")
        return out


def train(cfg: Config, *, resume: str = "", stop_after: int | None = None) -> TrainResult:
    """Run (or, with resume="latest", continue) the stages of `cfg`; see Trainer."""
    return Trainer(cfg, resume=resume, stop_after=stop_after).run()
