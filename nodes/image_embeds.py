import functools

import torch

from .comfy_api_pin import io

from ..c2d_core.image_space import DEFAULT_SCALE, image_embeds
from .types import CATEGORY, AudioEmbeds, IPAdapterEmbeds


@functools.cache
def _vision_output_class():
    """comfy.clip_vision.Output holding only `image_embeds`; asking it for anything else (hidden states: Style Model,
    IP-Adapter plus, Wan I2V) is an AttributeError that says why (still an AttributeError, so ComfyUI's own
    `getattr(x, name, default)` probes keep working)."""
    import comfy.clip_vision

    class AudioVisionOutput(comfy.clip_vision.Output):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            raise AttributeError(f"this CLIP_VISION_OUTPUT comes from audio (ImageBind → Image Embeds) and holds "
                             f"image_embeds only, not {name}: use it with unCLIPConditioning; nodes that need the "
                             "vision model's hidden states (Style Model, IP-Adapter plus, Wan image-to-video) "
                             "cannot take a sound")

    return AudioVisionOutput


class C2DAudioImageEmbeds(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="C2DAudioImageEmbeds",
            display_name="Audio → Image Embeds (ImageBind) (C2D)",
            category=CATEGORY,
            description="Zero-shot, no adapter: ImageBind audio embeddings live in the space of OpenCLIP ViT-H/14 "
                        "image embeddings, so a sound can stand in for an image. clip_vision_output feeds the stock "
                        "unCLIPConditioning (SD 2.1 unCLIP-H); pos_embed / neg_embed feed IPAdapter_plus's IPAdapter "
                        "Embeds with a ViT-H model (ip-adapter_sd15, ip-adapter_sd15_light, ip-adapter_sdxl_vit-h). "
                        "Each row is normalised and multiplied by scale (default 20: ImageBind's own audio output, "
                        "as Anything2Image feeds it to unCLIP). 'plus' IP-Adapters read the vision model's hidden "
                        "states, which a sound does not have; this node cannot see which IP-Adapter model the Embeds "
                        "node gets, so there IPAdapter_plus reports the shape mismatch. Needs embeddings from "
                        "ImageBind (imagebind_huge.pth in Load CLAP Model); CLAP embeddings are refused.",
            inputs=[
                AudioEmbeds.Input("embeds", tooltip="from CLAP Encode Audio (or Timeline, Blend) with ImageBind loaded"),
                io.Float.Input("scale", default=DEFAULT_SCALE, min=0.0, max=100.0, step=0.5,
                               tooltip="length of each image embedding (direction from the audio); 20 = ImageBind's "
                                       "own audio output"),
            ],
            outputs=[
                io.ClipVisionOutput.Output(display_name="clip_vision_output",
                                           tooltip="image_embeds only: for unCLIPConditioning"),
                IPAdapterEmbeds.Output(display_name="pos_embed", tooltip="(N, 1024) for IPAdapter Embeds"),
                IPAdapterEmbeds.Output(display_name="neg_embed",
                                       tooltip="zeros, as IPAdapter_plus's own encoder gives ViT-H models"),
            ],
        )

    @classmethod
    def execute(cls, embeds, scale) -> io.NodeOutput:
        images = image_embeds(embeds.embeds, embeds.clap_model_id, scale)  # (N, 1024)
        vision = _vision_output_class()()
        vision["image_embeds"] = images
        return io.NodeOutput(vision, images, torch.zeros_like(images))
