"""Separate audio guidance: a GUIDER with its own scale for the text and for the sound.

One UNet pass per step on three rows per image — negative and positive without the audio branch,
positive with it — combined as

    ε = ε(neg) + text_cfg · (ε(pos) − ε(neg)) + audio_cfg · (ε(pos + audio) − ε(pos))

so audio_cfg 0 is plain CFG of the model without the adapter; it then runs the stock guider's own path
(`sampling_function`, two rows, with every row heard as "plain"), bit for bit the stock CFGGuider's result on the
unpatched model. Vector conditioning (SDXL's pooled output and size embeddings, `y`) is ComfyUI's per conditioning:
each row gets its own conditioning's, as with the stock guider. The combination goes through
ComfyUI's own `cfg_function` with the sound folded into the positive side,
ε(pos') = ε(pos) + (audio_cfg / text_cfg) · (ε(pos + audio) − ε(pos)), so a model's `sampler_cfg_function`
(e.g. RescaleCFG) and post-CFG hooks act on the audio-guided result as on any CFG.

text_cfg 1 (Flux-dev and other guidance-distilled models, whose prompt strength is an input of the model, not CFG):
the negative row is skipped as the stock guider skips it at cfg 1, so each step runs two rows — positive with and
without the audio — and ε = ε(pos) + audio_cfg · (ε(pos + audio) − ε(pos)).
"""
from __future__ import annotations

import math

import comfy.samplers

from ..c2d_core.rows import AUDIO, PLAIN
from .comfy_api_pin import io
from .types import CATEGORY


def _kinds(model_options: dict, kinds: tuple[str, ...]) -> dict:
    """model_options with the audio kind of each conditioning of the call (rows.py `c2d_chunk_kinds`)."""
    options = dict(model_options)
    options["transformer_options"] = {**options.get("transformer_options", {}), "c2d_chunk_kinds": kinds}
    return options


class AudioGuider(comfy.samplers.CFGGuider):
    """CFGGuider with a second scale; `cfg` is the text scale (what other packs read), `audio_cfg` the sound's."""

    def set_scales(self, text_cfg: float, audio_cfg: float):
        self.set_cfg(text_cfg)
        self.audio_cfg = audio_cfg

    def predict_noise(self, x, timestep, model_options={}, seed=None, **kwargs):
        positive, negative = self.conds.get("positive"), self.conds.get("negative")
        if self.audio_cfg == 0:
            return comfy.samplers.sampling_function(self.inner_model, x, timestep, negative, positive, self.cfg,
                                                    model_options=_kinds(model_options, (PLAIN, PLAIN)), seed=seed)
        options = _kinds(model_options, (AUDIO, PLAIN, PLAIN))
        cfg1 = math.isclose(self.cfg, 1.0) and not model_options.get("disable_cfg1_optimization", False)
        negative = None if cfg1 else negative   # as the stock guider: no negative row at cfg 1 (its ε reads as 0)
        with_audio, neg, pos = comfy.samplers.calc_cond_batch(
            self.inner_model, [positive, negative, positive], x, timestep, options)
        if self.cfg != 0:
            guided, scale = pos + (self.audio_cfg / self.cfg) * (with_audio - pos), self.cfg
        else:  # no text guidance: the hooks see the audio-guided prediction at scale 1
            guided, scale = neg + self.audio_cfg * (with_audio - pos), 1.0
        return comfy.samplers.cfg_function(self.inner_model, guided, neg, scale, x, timestep,
                                           model_options=model_options, cond=positive, uncond=negative)


class C2DAudioGuider(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DAudioGuider",
            display_name="Audio Guider (text + audio CFG, C2D)",
            category=CATEGORY,
            description="A GUIDER for SamplerCustomAdvanced with separate guidance scales for the prompt and the "
                        "sound, in one model pass per step (3 rows per image). audio_cfg 0 = plain CFG without audio. "
                        "text_cfg 1 (Flux-dev and other guidance-distilled models) skips the negative prompt: 2 rows, "
                        "the sound guided against the positive prompt alone.",
            inputs=[
                io.Model.Input("model", tooltip="the model from Apply Audio Adapter"),
                io.Conditioning.Input("positive", tooltip="the prompt (text conditioning)"),
                io.Conditioning.Input("negative", tooltip="the negative prompt"),
                io.Float.Input("text_cfg", default=7.0, min=0.0, max=30.0, step=0.1,
                               tooltip="guidance scale of the prompt (as KSampler's cfg); 1 for Flux-dev (its "
                                       "guidance is the FluxGuidance node's): then the negative is not run"),
                io.Float.Input("audio_cfg", default=3.0, min=0.0, max=30.0, step=0.1,
                               tooltip="guidance scale of the sound on top of the prompt; 0 = ignore the sound"),
            ],
            outputs=[io.Guider.Output(tooltip="for SamplerCustomAdvanced's guider input")],
        )

    @classmethod
    def execute(cls, model, positive, negative, text_cfg, audio_cfg) -> io.NodeOutput:
        guider = AudioGuider(model)
        guider.set_conds(positive, negative)
        guider.set_scales(text_cfg, audio_cfg)
        return io.NodeOutput(guider)
