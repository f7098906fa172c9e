"""Peak resident memory of a block of code (Linux), for memory-bound benchmarks and tests.

    with PeakRSS() as m:
        work()
    m.peak_extra  # bytes: highest RSS during the block minus RSS at its start

Torch's CPU tensors come from malloc, which keeps freed memory in its heap and so hides (or fakes) growth;
`PeakRSS` first tells glibc to serve every allocation ≥ 64 KiB with its own mmap and to give it back when
freed (mallopt), then resets the kernel's resident high-water mark (/proc/self/clear_refs, "5") at the start
of the block and reads it (VmHWM) at the end. Both settings stay for the rest of the process.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
_STATUS, _CLEAR = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def available() -> bool:
    """True where the peak can be measured (Linux with glibc and a writable clear_refs)."""
    try:
        _CLEAR.write_text("5")
        return _libc() is not None and "VmHWM" in _STATUS.read_text()
    except OSError:
        return False


def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc only
        return libc
    except (OSError, AttributeError, TypeError):
        return None


def _kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in {_STATUS}")


def rss() -> int:
    """Current resident set size in bytes."""
    return _kib("VmRSS")


class PeakRSS:
    """Context manager: `.start`, `.peak` (bytes RSS) and `.peak_extra` = peak - start."""

    def __enter__(self):
        libc = _libc()
        if libc is None:
            raise RuntimeError("PeakRSS needs glibc (mallopt) and Linux /proc")
        libc.mallopt(M_MMAP_THRESHOLD, 64 * 1024)
        libc.mallopt(M_TRIM_THRESHOLD, 64 * 1024)
        libc.malloc_trim(0)
        _CLEAR.write_text("5")  # reset VmHWM to the current RSS
        self.start = rss()
        return self

    def __exit__(self, *exc):
        self.peak = _kib("VmHWM")
        self.peak_extra = self.peak - self.start
        return False
