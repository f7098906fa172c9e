"""ComfyUI progress bars for the core's `on_progress(done, total)` callbacks (c2d_core never imports ComfyUI)."""


def progress_callback():
    """An `on_progress(done, total)` that drives a `comfy.utils.ProgressBar`, created on the first call
    (when the total is known), so the node's bar in the front end fills as the core works."""
    import comfy.utils

    bar = None

    def on_progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = comfy.utils.ProgressBar(total)
        bar.update_absolute(done, total)
    return on_progress
