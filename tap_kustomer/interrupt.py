"""Ctrl-C and SIGTERM end a run at once, waits included.

Every wait of the tap (a spent request budget, a 429, a retry's backoff) is `sleep` here: it
waits on one Event that the signal handler sets, so a wait on any thread (stream threads and
request threads too) ends within moments of the signal, with KeyboardInterrupt. The handler also
raises KeyboardInterrupt in the main thread, as Python's own SIGINT handler does, and SIGTERM
(what cron, systemd, Airflow and `kill` send) is handled the same way: the run stops at its
next page, the last STATE printed stays valid, and the tap exits 128 + the signal's number
(130 for SIGINT, 143 for SIGTERM) with one CRITICAL line.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

STOP = threading.Event()  # set by SIGINT/SIGTERM: every wait ends, and no new one begins
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (or a wait found it stopped)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_received: list[int] = []  # the signals of this run, first one first


def sleep(seconds: float) -> None:
    """Wait `seconds` (the tap's only way to wait); a signal ends the wait at once with
    Interrupted, on whichever thread waits."""
    if STOP.wait(max(0.0, seconds)):
        raise Interrupted(_received[0] if _received else signal.SIGINT)


def _handler(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    STOP.set()
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_stop_the_run() -> Iterator[None]:
    """For the length of a run: SIGINT and SIGTERM set STOP and interrupt the main thread.
    (Signal handlers can be set only from the main thread; elsewhere only STOP is reset.)"""
    STOP.clear()
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, _handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
