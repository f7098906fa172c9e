"""Sound tags: rank a vocabulary of sound labels by CLAP audio–text similarity and write them into a text prompt.

The output is plain text, so it drives every model family ComfyUI runs (SD1.5, SDXL, SD3.5, Flux, Qwen-Image, Wan).
Scores are cosine similarities between the audio embedding and each label's text embedding (the label placed in a
CLAP prompt such as "This is a sound of {label}.", as CLAP's zero-shot classification does). The default vocabulary
is AudioSet's 527 classes (`data/audioset_labels.txt`, CC BY 4.0).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .errors import SoundPromptError

AUDIOSET_FILE = Path(__file__).resolve().parent / "data" / "audioset_labels.txt"
DEFAULT_LABEL_PROMPT = "This is a sound of {label}."
DEFAULT_TEMPLATE = "{labels}"
MAX_VOCABULARY_BYTES = 4_000_000


def parse_vocabulary(text: str, source: str = "the vocabulary") -> list[str]:
    """One label per line; blank lines and lines starting with '#' are skipped, repeats kept once (first wins)."""
    labels = list(dict.fromkeys(line.strip() for line in text.splitlines()
                                if line.strip() and not line.strip().startswith("#")))
    if not labels:
        raise SoundPromptError(f"{source} has no labels: write one sound label per line (e.g. 'Rain', 'Dog')")
    return labels


def read_vocabulary(path) -> list[str]:
    """A UTF-8 text file of labels → labels; a binary or non-UTF-8 file is an error saying so."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) > MAX_VOCABULARY_BYTES or b"\x00" in data:
        raise SoundPromptError(f"{path.name} is not a text vocabulary (binary data or over "
                               f"{MAX_VOCABULARY_BYTES // 1_000_000} MB): save one sound label per line as UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SoundPromptError(f"{path.name} is not UTF-8 text ({e.reason} at byte {e.start}): save the vocabulary "
                               "as UTF-8, one sound label per line") from None
    return parse_vocabulary(text, path.name)


def audioset_labels() -> list[str]:
    return read_vocabulary(AUDIOSET_FILE)


@dataclass(frozen=True)
class TagSettings:
    top_k: int = 3
    threshold: float = 0.0          # cosine similarity a label needs to be kept (top-1 is always kept)
    template: str = DEFAULT_TEMPLATE
    separator: str = ", "

    def __post_init__(self):
        if self.top_k < 1:
            raise SoundPromptError(f"top_k must be at least 1, got {self.top_k}")
        if "{labels}" not in self.template:
            raise SoundPromptError(f"the template {self.template!r} has no {{labels}} placeholder: write e.g. "
                                   "'a painting of {labels}'")


def label_prompts(labels: list[str], label_prompt: str = DEFAULT_LABEL_PROMPT) -> list[str]:
    if "{label}" not in label_prompt:
        raise SoundPromptError(f"the label prompt {label_prompt!r} has no {{label}} placeholder: write e.g. "
                               "'This is a sound of {label}.'")
    return [label_prompt.replace("{label}", label) for label in labels]


def score_labels(audio: torch.Tensor, label_embeds: torch.Tensor) -> torch.Tensor:
    """audio: (N, D), label_embeds: (L, D) → (N, L) cosine similarities."""
    if audio.shape[-1] != label_embeds.shape[-1]:
        raise SoundPromptError(f"audio embeddings are {audio.shape[-1]}-d but the label embeddings {label_embeds.shape[-1]}"
                               "-d: encode the audio with the same CLAP that embeds the labels")
    return F.normalize(audio.float(), dim=-1) @ F.normalize(label_embeds.float(), dim=-1).T


def pick_tags(scores: torch.Tensor, labels: list[str], settings: TagSettings) -> list[list[tuple[str, float]]]:
    """scores: (N, L) → per row the top_k (label, score) with score ≥ threshold, best first (at least the best)."""
    k = min(settings.top_k, len(labels))
    values, index = scores.topk(k, dim=-1)
    rows = []
    for vals, idx in zip(values.tolist(), index.tolist()):
        row = [(labels[i], v) for i, v in zip(idx, vals) if v >= settings.threshold]
        rows.append(row or [(labels[idx[0]], vals[0])])
    return rows


def format_prompt(tags: list[tuple[str, float]], settings: TagSettings) -> str:
    return settings.template.replace("{labels}", settings.separator.join(label for label, _ in tags))


def schedule_string(prompts: list[str]) -> str:
    """Per-frame prompts → keyframes where the prompt changes, in the `"frame": "prompt"` lines that prompt-schedule
    nodes (FizzNodes' Batch Prompt Schedule and its followers) read."""
    lines, last = [], None
    for frame, prompt in enumerate(prompts):
        if prompt != last:
            lines.append(f'"{frame}": "{prompt.replace(chr(34), chr(39))}"')
            last = prompt
    return ",\n".join(lines)


def describe_scores(tags: list[tuple[str, float]]) -> str:
    return "\n".join(f"{score:+.3f}  {label}" for label, score in tags)


@dataclass(frozen=True)
class TagResult:
    prompt: str                     # tags of all rows averaged, in the template
    frame_prompts: list[str]        # one prompt per row (per frame of a timeline)
    schedule: str                   # keyframes where the per-row prompt changes
    scores: str                     # the prompt's labels with their similarities, one per line


def tag_audio(encoder, audio: torch.Tensor, labels: list[str], settings: TagSettings,
              label_prompt: str = DEFAULT_LABEL_PROMPT) -> TagResult:
    """audio: (N, D) embeddings from `encoder` (an AudioEncoder with a text tower) → prompts from the best labels."""
    label_embeds = encoder.encode_text_cached(tuple(label_prompts(labels, label_prompt)))  # (L, D)
    rows = audio.float()
    whole = pick_tags(score_labels(rows.mean(dim=0, keepdim=True), label_embeds), labels, settings)[0]
    frame_prompts = [format_prompt(tags, settings) for tags in pick_tags(score_labels(rows, label_embeds), labels,
                                                                          settings)]
    return TagResult(prompt=format_prompt(whole, settings), frame_prompts=frame_prompts,
                     schedule=schedule_string(frame_prompts), scores=describe_scores(whole))
