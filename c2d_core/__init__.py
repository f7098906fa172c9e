"""CLAP2Diffusion core: pure torch, imports nothing from ComfyUI (tested alone, reused by training/)."""
