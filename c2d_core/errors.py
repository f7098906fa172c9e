"""Errors raised by CLAP2Diffusion. Each message says what is wrong and what to do about it; one that wraps
another library's error puts that sentence first and the library's text, cut short, after it (wrap_upstream).

All inherit from ``ValueError`` so ComfyUI shows the message in its error dialog instead of a
deep torch stack trace.
"""
import re


class C2DError(ValueError):
    """Base class of every user-facing CLAP2Diffusion error."""


class AudioInputError(C2DError):
    """The audio (file, samples, rate, channels) cannot be used."""


class ClapModelError(C2DError):
    """The CLAP model file or folder cannot be loaded."""


class AdapterFileError(C2DError):
    """The file is not a readable CLAP2Diffusion adapter (corrupt, truncated, unsafe, wrong format)."""


class AdapterMismatchError(C2DError):
    """The adapter does not fit the model or the CLAP encoder it is used with."""


class CheckpointFileError(C2DError):
    """A diffusion model checkpoint cannot be read (truncated, corrupt, unsafe or not a checkpoint)."""


class UnsupportedModelError(C2DError):
    """The diffusion model family is not supported (yet)."""


class SoundPromptError(C2DError):
    """The text of a sound prompt cannot be used (empty, nothing to encode)."""


class EditInputError(C2DError):
    """Inputs of the edit nodes do not belong together (latent, model, sigmas, mask, blocks)."""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def wrap_upstream(ours: str, exc: BaseException, max_lines: int = 4, max_line_chars: int = 160) -> str:
    """The message of an error of ours that wraps another library's: our sentence first (what is wrong, what to
    do), then the upstream error cut to `max_lines` of its lines, each at most `max_line_chars` characters: its
    first line and its last ones (a tool log such as ffmpeg's puts its banner and build configuration first
    and the cause last), and in between one line saying how many were cut.

    >>> wrap_upstream("x.wav has no audio: load a clip with a sound track", RuntimeError("ffmpeg said"))
    'x.wav has no audio: load a clip with a sound track\\n(RuntimeError: ffmpeg said)'
    """
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()] or ["no message"]
    lines = [line if len(line) <= max_line_chars else line[:max_line_chars - 1] + "…" for line in lines]
    if len(lines) > max(1, max_lines):
        tail = lines[len(lines) - max(0, max_lines - 1):] if max_lines > 1 else []
        cut = len(lines) - 1 - len(tail)
        lines = [lines[0], f"… {cut} more line{'s' if cut > 1 else ''} …"] + tail
    return f"{ours.rstrip()}\n({type(exc).__name__}: " + "\n  ".join(lines) + ")"
