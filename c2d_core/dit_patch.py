"""The audio branch on DiT blocks, through ComfyUI's supported block replacement
`transformer_options["patches_replace"]["dit"][("double_block" | "single_block", i)]` (comfy/ldm/flux/model.py,
comfy/ldm/chroma/model.py, SD3's mmdit.py, comfy/ldm/qwen_image/model.py, comfy/ldm/wan/model.py): the
replacement gets the block's inputs and `{"original_block": fn}`, runs the block, then adds the branch to the image
tokens only:

    double-stream block:  img ← img + s·tanh(α)·Attn(LN(img), A)            (txt untouched)
    single-stream block:  x = [txt | img] → [txt | img + s·tanh(α)·Attn(LN(img), A)]

In a single-stream block the text tokens come first. ComfyUI 0.33 says where the image starts
(`transformer_options["img_slice"]`); on older hosts the double-stream replacements record the text length in the
same per-call transformer_options, so an adapter with single-stream blocks also replaces double block 0.
A replacement another pack installed on the same block first runs inside ours (`inner`). Imports nothing of ComfyUI.
"""
from __future__ import annotations

import torch

from .errors import UnsupportedModelError

TEXT_TOKENS = "c2d_text_tokens"   # written into the model call's own transformer_options by double-stream blocks
HOST_BLOCK_NAMES = {"double": "double_block", "single": "single_block"}


def host_block(key: str) -> tuple[str, int]:
    """Our block key → ComfyUI's patches_replace["dit"] key: "single_12" → ("single_block", 12)."""
    stream, index = key.rsplit("_", 1)
    return HOST_BLOCK_NAMES[stream], int(index)


def image_start(transformer_options: dict) -> int:
    """Where the image tokens start in a single-stream block's joint sequence (= the number of text tokens)."""
    image_slice = transformer_options.get("img_slice")
    if image_slice is not None:
        return int(image_slice[0])
    if TEXT_TOKENS in transformer_options:
        return int(transformer_options[TEXT_TOKENS])
    raise UnsupportedModelError(
        "this model ran a single-stream block without telling where its image tokens start (no img_slice, and no "
        "double-stream block ran first); the audio adapter supports Flux, Flux.2 and Chroma as ComfyUI runs them")


class DiTBlockBranch:
    """One `patches_replace["dit"]` entry: runs the block (or the replacement it wraps), then adds the branch.

    key: our block key ("double_3", "single_12"), None for double block 0 when it only records the text length.
    owner: the one entry that hands ComfyUI the adapter's patcher in `models()` (every entry shares the patch).
    """

    c2d_row_aware = True  # the branch reads the c2d_rows plan (source_row.foreign_patches)

    def __init__(self, patch, stream: str, key: str | None, *, owner: bool = False, inner=None):
        self.patch, self.stream, self.key, self.owner, self.inner = patch, stream, key, owner, inner

    def wrapping(self, inner) -> "DiTBlockBranch":
        """The same entry running `inner` (another pack's replacement of this block) in place of the plain block."""
        return type(self)(self.patch, self.stream, self.key, owner=self.owner, inner=inner)

    def __call__(self, args: dict, extra: dict) -> dict:
        """args: {"img": (B, T_img, C) or joint (B, T_txt + T_img, C) for single blocks, "txt", "vec", "pe", ...}."""
        out = self.inner(args, extra) if self.inner is not None else extra["original_block"](args)
        options = args.get("transformer_options")
        options = options if options is not None else {}
        img = out["img"]
        if self.stream == "double":
            if out.get("txt") is not None:   # SD3's last joint block returns no text stream
                options[TEXT_TOKENS] = out["txt"].shape[1]
            branch = None if self.key is None else self.patch.branch(img, options, self.key)
            return out if branch is None else {**out, "img": img + branch}
        start = image_start(options)
        image = img[:, start:]
        branch = self.patch.branch(image, options, self.key)
        return out if branch is None else {**out, "img": torch.cat([img[:, :start], image + branch], dim=1)}

    # --- ComfyUI patch protocol (model_patcher.model_patches_models / _to / _call_function) ------------------
    def models(self) -> list:
        inner = self.inner.models() if hasattr(self.inner, "models") else []
        return (self.patch.models() if self.owner else []) + inner

    def to(self, device_or_dtype) -> "DiTBlockBranch":
        if hasattr(self.inner, "to"):
            self.inner = self.inner.to(device_or_dtype)
        return self   # see AudioAttentionPatch.to

    def cleanup(self) -> None:
        if hasattr(self.inner, "cleanup"):
            self.inner.cleanup()
        if self.owner:
            self.patch.cleanup()

    def __deepcopy__(self, memo):
        return self.wrapping(self.inner)   # 0.3.64 clone() deep-copies model_options: share the patch


class DiTAfterBlockBranch:
    """The one `patches["double_block"]` entry of a model that calls it after each layer with that layer's image
    tokens (Z-Image, comfy/ldm/lumina/model.py): {"img", "txt", "block_index", "transformer_options", ...} →
    {"img": img + branch} for adapter layers, {} (nothing changed) elsewhere."""

    c2d_row_aware = True

    def __init__(self, patch):
        self.patch = patch

    def __call__(self, args: dict) -> dict:
        img = args["img"]
        branch = self.patch.branch(img, args.get("transformer_options") or {}, f"double_{args['block_index']}")
        return {} if branch is None else {"img": img + branch}   # None also for layers without audio attention

    def models(self) -> list:
        return self.patch.models()

    def to(self, device_or_dtype) -> "DiTAfterBlockBranch":
        return self

    def cleanup(self) -> None:
        self.patch.cleanup()

    def __deepcopy__(self, memo):
        return type(self)(self.patch)


def dit_block_entries(patch, keys: list[str]) -> dict[tuple[str, int], DiTBlockBranch]:
    """{("double_block" | "single_block", i): entry} for the adapter's blocks (+ double block 0 where single-stream
    blocks need the text length and double block 0 has no branch)."""
    entries = {}
    for n, key in enumerate(keys):
        stream = key.rsplit("_", 1)[0]
        entries[host_block(key)] = DiTBlockBranch(patch, stream, key, owner=n == 0)
    if any(k.startswith("single_") for k in keys) and ("double_block", 0) not in entries:
        entries[("double_block", 0)] = DiTBlockBranch(patch, "double", None)
    return entries
