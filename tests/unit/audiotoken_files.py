"""AudioToken's released files rebuilt from its own code (tests/unit/audiotoken_reference) on random weights.

`beats_file`: `{"cfg", "model", "label_dict"}` as Microsoft's BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt, at
the released size (12 × 768, deep norm, gated relative positions, the AudioSet classifier); `embedder_file`:
`FGAEmbedder().state_dict()` as `embedder_learned_embeds.bin`. Every weight is moved off its initial value (LayerNorm
ones, zero biases, grep_a ones) so that a wrong term in the port shows.
"""
from __future__ import annotations

import torch

from audiotoken_reference.BEATs import BEATs, BEATsConfig
from audiotoken_reference.embedder import FGAEmbedder

# The released fine-tuned checkpoint's cfg (unilm/beats); training-only fields keep unilm's defaults.
RELEASED_CFG = dict(encoder_layers=12, encoder_embed_dim=768, encoder_ffn_embed_dim=3072, encoder_attention_heads=12,
                    activation_fn="gelu", layer_norm_first=False, deep_norm=True, conv_bias=False, conv_pos=128,
                    conv_pos_groups=16, relative_position_embedding=True, num_buckets=320, max_distance=800,
                    gru_rel_pos=True, finetuned_model=True, predictor_class=527, input_patch_size=16, embed_dim=512,
                    dropout=0.0, attention_dropout=0.0, layer_wise_gradient_decay_ratio=0.6, encoder_layerdrop=0.05)


def _perturb(model: torch.nn.Module, seed: int, scale: float) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)


def their_beats(seed: int = 0, **cfg) -> BEATs:
    torch.manual_seed(seed)
    model = BEATs(BEATsConfig({**RELEASED_CFG, **cfg})).eval()
    _perturb(model, seed, 0.02)
    return model


def beats_file(path, model: BEATs):
    torch.save({"cfg": dict(model.cfg.__dict__), "model": model.state_dict(),
                "label_dict": {i: f"/m/{i:05d}" for i in range(model.cfg.predictor_class)}}, path)
    return path


def their_embedder(seed: int = 0, output_size: int = 768) -> FGAEmbedder:
    torch.manual_seed(seed)
    model = FGAEmbedder(input_size=768 * 3, output_size=output_size).eval()
    _perturb(model, seed + 1, 0.02)
    return model


def their_features(model: BEATs, clips: torch.Tensor) -> torch.Tensor:
    """clips (B, T) at 16 kHz → AudioToken's `aud_encoder.extract_features(x)[1]` (B, N, 2304)."""
    predictor = model.predictor
    model.predictor = None  # as AudioTokenWrapper does after loading
    try:
        with torch.no_grad():
            return model.extract_features(clips)[1]
    finally:
        model.predictor = predictor


def their_token(model: BEATs, embedder: FGAEmbedder, clips: torch.Tensor, monkeypatch) -> torch.Tensor:
    """AudioToken's token for `clips` with its always-on unary dropout disabled (its expectation)."""
    with monkeypatch.context() as m:
        m.setattr(torch.nn.functional, "dropout", lambda x, *a, **k: x)
        with torch.no_grad():
            return embedder(their_features(model, clips))
