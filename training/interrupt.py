"""Ctrl-C / SIGTERM during training: finish the step, save a checkpoint, return."""
from __future__ import annotations

import logging
import signal

log = logging.getLogger(__name__)


class StopOnSignal:
    """SIGINT/SIGTERM → finish the current step, save a checkpoint and return (a second Ctrl-C aborts)."""

    def __init__(self):
        self.flag = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True
        log.warning("interrupted: saving a checkpoint after this step (Ctrl-C again aborts without saving)")

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
