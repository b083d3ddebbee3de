"""A line on stderr whenever a long command has printed nothing for a while.

Off a terminal (a log file, CI, `--json` piped to a script) there is no live bar, and a
phase that prints nothing for half a minute (an exhaustive pass, a random-search baseline,
an ensemble's evaluation, the final phase) looks like a hang. `run`, `mle run` and both
`evolve` commands share this one thread; each says in its own words what is under way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

EVERY = 10.0  # seconds of silence before a heartbeat line


class Heartbeat:
    """While entered, calls `write(doing())` once `every` seconds passed without `said()`."""

    def __init__(self, doing: Callable[[], str], write: Callable[[str], None], every: float = EVERY) -> None:
        self.doing, self.write, self.every = doing, write, every
        self.lock = threading.Lock()  # also the owner's, for the state `doing` reads
        self._last = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="strop-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def said(self) -> None:
        """The command printed a line just now."""
        with self.lock:
            self._last = time.monotonic()

    def _beat(self) -> None:
        while not self._done.wait(min(1.0, self.every / 4)):
            with self.lock:
                if time.monotonic() - self._last < self.every:
                    continue
                self._last = time.monotonic()
                text = self.doing()
            self.write(text)
