"""Sound prompts as the CLAP text towers take them."""
from __future__ import annotations

from ..errors import SoundPromptError


def clean_prompts(prompts) -> list[str]:
    """One string or a list → stripped non-empty strings; an empty prompt is a SoundPromptError."""
    if isinstance(prompts, str):
        prompts = [prompts]
    prompts = [str(p).strip() for p in prompts]
    if not prompts or not all(prompts):
        raise SoundPromptError("the sound prompt is empty: type what should be heard, e.g. "
                               "\"thunderstorm with heavy rain\" (one prompt per line)")
    return prompts
