"""The SonicDiffusion edit preset's conv injection on ComfyUI's own ResBlock equals SonicDiffusion's, written from
their pnp_utils.py:107-166 (`register_conv_control_efficient`) over diffusers' ResnetBlock2D with the same weights."""
import pytest
import torch

from c2d_core.pnp import PnPState, install_conv_hooks

PLAN = [("plain", -1), ("null", 0), ("audio", 0)]   # the source row, then the edit's uncond and cond rows


def _their_resnet_forward(block, input_tensor, temb):
    """pnp_utils.py:111-154 with injection on: conv2's output of the edit rows := the source row's."""
    hidden_states = block.nonlinearity(block.norm1(input_tensor))
    hidden_states = block.conv1(hidden_states)
    temb = block.time_emb_proj(block.nonlinearity(temb))[:, :, None, None]
    hidden_states = hidden_states + temb
    hidden_states = block.dropout(block.nonlinearity(block.norm2(hidden_states)))
    hidden_states = block.conv2(hidden_states)
    source_batch_size = int(hidden_states.shape[0] // 3)
    hidden_states[source_batch_size:2 * source_batch_size] = hidden_states[:source_batch_size]
    hidden_states[2 * source_batch_size:] = hidden_states[:source_batch_size]
    if block.conv_shortcut is not None:
        input_tensor = block.conv_shortcut(input_tensor)
    return (input_tensor + hidden_states) / block.output_scale_factor


@pytest.mark.parametrize("channels, out_channels", [(64, 64), (96, 64)])   # identity skip and conv_shortcut
def test_conv_injection_matches_sonicdiffusion_on_comfyuis_resblock(comfy_root, channels, out_channels):
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import ResBlock
    from diffusers.models.resnet import ResnetBlock2D

    torch.manual_seed(0)
    theirs = ResnetBlock2D(in_channels=channels, out_channels=out_channels, temb_channels=128, eps=1e-5)  # SD's norm_eps.eval()
    ours = ResBlock(channels, 128, 0.0, out_channels=out_channels, operations=comfy.ops.disable_weight_init).eval()
    pairs = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj", "out_layers.0": "norm2",
             "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}
    state = {}
    for mine, their in pairs.items():
        module = theirs.get_submodule(their) if getattr(theirs, their, None) is not None else None
        if module is not None:
            state.update({f"{mine}.{k}": v for k, v in module.state_dict().items()})
    ours.load_state_dict(state, strict=True)

    unet = torch.nn.Module()
    unet.output_blocks = torch.nn.ModuleList([torch.nn.Sequential(ours) for _ in range(5)])
    pnp = PnPState(features=True, conv_blocks=(4,), options={"c2d_rows": PLAN})
    x, emb = torch.randn(3, channels, 8, 8), torch.randn(3, 128)
    with torch.no_grad():
        plain = ours(x, emb)
        handles = install_conv_hooks(unet, pnp)
        injected = ours(x, emb)
        reference = _their_resnet_forward(theirs, x.clone(), emb)
        for h in handles:
            h.remove()
    assert torch.allclose(injected, reference, atol=1e-5, rtol=1e-5)
    assert (injected[1:] - plain[1:]).abs().max() > 1e-3      # the edit rows did change
    assert torch.equal(injected[0], plain[0])                  # the source row did not
