"""ComfyUI nodes: thin adapters from ComfyUI types to c2d_core calls."""
