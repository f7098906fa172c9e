"""The placeholder word of an AudioToken prompt ("a photo of <audio>") → the audio token's embedding there.

AudioToken adds its placeholder to the CLIP tokenizer as a new token and overwrites that token's input embedding
with the audio token, so the prompt is tokenized as the text around the placeholder plus one slot. Here the
placeholder is replaced by a marker word that the host's tokenizer turns into exactly one token (and that occurs
nowhere else in the prompt); after tokenizing, each marker token becomes the audio embedding. The host's tokenizer
does the rest (chunks of 77, weights like "(… <audio> …:1.2)", padding), and word boundaries are the ones
AudioToken's tokenizer makes: text next to the placeholder is tokenized on its own, as an added token splits it.
`tokenize(text)` is the host's: → chunks [[(token id, weight), …], …] of one CLIP stream.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import SoundPromptError

DEFAULT_PLACEHOLDER = "<audio>"
MARKER_CANDIDATES = ("sks", "ohwx", "zwx", "qzv", "vvx", "xqj", "jxz", "kqz")

Chunks = list[list[tuple]]


def check_prompt(prompt: str, placeholder: str) -> int:
    """How many times the placeholder occurs (≥ 1), or an error saying how to write the prompt."""
    if not placeholder.strip():
        raise SoundPromptError(f"the placeholder is empty; set it to a word such as {DEFAULT_PLACEHOLDER}")
    n = prompt.count(placeholder)
    if n == 0:
        raise SoundPromptError(f"the prompt {prompt[:80]!r} has no {placeholder!r}, so the sound has nowhere to go: "
                               f"write it where the sound belongs, e.g. \"a photo of {placeholder}, 4k, high "
                               "resolution\"")
    return n


def _ids(chunks: Chunks) -> list:
    """Token ids in order; an embedding already in the prompt (a tensor) counts as None."""
    return [None if torch.is_tensor(t[0]) else t[0] for chunk in chunks for t in chunk]


def single_token_id(tokenize: Callable[[str], Chunks], word: str) -> int | None:
    """The id of `word` when the tokenizer makes exactly one token of it, else None."""
    empty, one = _ids(tokenize("")), _ids(tokenize(word))  # [S, E, P…] and [S, w, E, P…] for one token
    if len(one) == len(empty) and one[0] == empty[0] and one[2:] == empty[1:-1] and one[1] != empty[1]:
        return int(one[1])
    return None


def mark_prompt(tokenize: Callable[[str], Chunks], prompt: str, placeholder: str) -> tuple[Chunks, int]:
    """(tokens of the prompt with each placeholder as one marker token, the marker's id)."""
    n = check_prompt(prompt, placeholder)
    for word in MARKER_CANDIDATES:
        marker = single_token_id(tokenize, word)
        if marker is None:
            continue
        chunks = tokenize(prompt.replace(placeholder, f" {word} "))
        if _ids(chunks).count(marker) == n:
            return chunks, marker
    raise SoundPromptError(f"could not place {placeholder!r} in the prompt: every marker word "
                           f"{MARKER_CANDIDATES} is already in it or not a single token for this CLIP; shorten the "
                           "prompt or write the placeholder once")


def splice(chunks: Chunks, marker: int, token: torch.Tensor) -> Chunks:
    """Each (marker, weight, …) entry → (token, weight, …). token: (C,) the audio embedding."""
    return [[(token,) + tuple(t[1:]) if not torch.is_tensor(t[0]) and t[0] == marker else t
             for t in chunk] for chunk in chunks]
