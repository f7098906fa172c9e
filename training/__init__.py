"""CLAP2Diffusion trainer: `python -m training <command>`. Reuses c2d_core, never re-implements it."""
