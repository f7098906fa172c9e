"""The pack's nodes on SD3.5 through the stock CheckpointLoaderSimple, in SD3.5's real key layout.

The checkpoint is the random-weight SD3.5 stand-in (devtools.standin_sd3: ComfyUI's MMDiT at depth 2, CLIP-L and
CLIP-G at full size, SD3's VAE; 1.8 GB fp16, built once per machine). The adapter is sized from the loaded model's
joint blocks (`training init --checkpoint` reads the same from the file's header). A LoRA in ComfyUI's MMDiT key
names composes with it. Latents are compared bit for bit where the adapter must be a no-op.
"""
import pytest
import torch
from graphs import add_audio_chain

from devtools.standin_sd3 import DEPTH

SEED = 5
CLAP = "c2d-test-clap-sd35"
ADAPTER = "sd35_gate05.safetensors"
LORA = "sd35_random_lora.safetensors"

pytestmark = pytest.mark.usefixtures("drop_cache_after_module")


@pytest.fixture(scope="module")
def assets(comfy_host, host_assets, host_models_dir, sd35_standin):
    from safetensors.torch import save_file

    from c2d_core.families import family_layout
    from training.checkpoint_layout import checkpoint_blocks

    family, blocks, width = checkpoint_blocks(host_models_dir / "checkpoints" / sd35_standin, str(comfy_host.root))
    assert family == "sd3" and width == 64 * DEPTH and len(blocks) == DEPTH
    assert family_layout("sd3").double_attr == "joint_blocks"
    host_assets.clap(CLAP, seed=3)
    for name, gate in ((ADAPTER, 0.5), ("sd35_gate0.safetensors", 0.0)):
        host_assets.adapter(name, seed=7, gate_init=gate, base_family="sd3", context_dim=width, blocks=blocks,
                            clap_model_id=CLAP)
    host_assets.audio("rain.wav", "rain", 3.0, channels=2)
    host_assets.audio("chirp.wav", "chirp", 3.0, channels=2)
    g = torch.Generator().manual_seed(9)
    lora = {}
    for i in range(DEPTH):   # ComfyUI's key names for MMDiT LoRAs: diffusion_model.<module path>.lora_{up,down}
        name = f"diffusion_model.joint_blocks.{i}.x_block.attn.qkv"
        lora[f"{name}.lora_down.weight"] = torch.randn(4, width, generator=g) * 0.5
        lora[f"{name}.lora_up.weight"] = torch.randn(3 * width, 4, generator=g) * 0.5
    (host_models_dir / "loras").mkdir(exist_ok=True)
    save_file(lora, str(host_models_dir / "loras" / LORA))
    return sd35_standin


def graph(ckpt, audio="rain.wav", adapter=ADAPTER, strength=1.0, batch=1, patched=True, lora=False, audio2=None):
    """checkpoint (→ LoRA) → [audio → CLAP → adapter → apply] → KSampler (CFG 4, negative) → SaveLatent ("5")."""
    model, clip = ["1", 0], ["1", 1]
    p = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
         "4": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": batch}},
         "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a landscape at dusk", "clip": clip}},
         "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": clip}}}
    if lora:
        p["8"] = {"class_type": "LoraLoaderModelOnly", "inputs": {"model": model, "lora_name": LORA,
                                                                   "strength_model": 1.0}}
        model = ["8", 0]
    if patched:
        model = add_audio_chain(p, model, audio=audio, clap=CLAP, adapter=adapter, strength=strength, audio2=audio2)
    p["5"] = {"class_type": "KSampler", "inputs": {
        "model": model, "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": SEED,
        "steps": 2, "cfg": 4.0, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}}
    p["6"] = {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "c2d_sd35_test"}}
    return p


def latent(host, prompt) -> torch.Tensor:
    return host.run(prompt, fresh=False)["outputs"]["5"][0]["samples"].clone()


def test_identity_effect_audio_and_batch_through_the_stock_loader(comfy_host, assets):
    plain = latent(comfy_host, graph(assets, patched=False))
    assert plain.shape == (1, 16, 8, 8) and torch.isfinite(plain).all()
    assert torch.equal(latent(comfy_host, graph(assets, strength=0.0)), plain)
    assert torch.equal(latent(comfy_host, graph(assets, adapter="sd35_gate0.safetensors")), plain)
    rain = latent(comfy_host, graph(assets))
    assert (rain - plain).abs().max() > 1e-3
    assert (latent(comfy_host, graph(assets, audio="chirp.wav")) - rain).abs().max() > 1e-4
    pair = latent(comfy_host, graph(assets, batch=2, audio2="chirp.wav"))
    same = latent(comfy_host, graph(assets, batch=2))
    assert torch.allclose(pair[0], same[0], atol=1e-5) and (pair[1] - same[1]).abs().max() > 1e-4


def test_a_lora_composes_with_the_adapter(comfy_host, assets):
    plain = latent(comfy_host, graph(assets, patched=False))
    lora = latent(comfy_host, graph(assets, patched=False, lora=True))
    assert (lora - plain).abs().max() > 1e-3                                    # the LoRA loads and acts
    assert torch.equal(latent(comfy_host, graph(assets, lora=True, strength=0.0)), lora)
    both = latent(comfy_host, graph(assets, lora=True))
    assert min((both - lora).abs().max(), (both - latent(comfy_host, graph(assets))).abs().max()) > 1e-4
