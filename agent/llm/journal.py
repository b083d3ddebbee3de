"""Model calls in flight, on disk: what a crash (SIGKILL, power loss) would leave uncounted.

A call's tokens reach the run's totals only in the record of the experiment that asked it. A
process killed while a call was in flight left no trace of that call: the endpoint had the
prompt (a paid one bills it), the run's token and cost budgets never saw it, and the resumed run
asked again. So before each attempt is sent, the client writes a reservation here (`reserve`):
one small JSON file holding the prompt's estimate, priced at the task's input price. The loop
removes an experiment's reservations (`settle`) once the spend of its calls is durable in the
experiment's candidate file, which the run always records; what is left when a run starts,
resumes or ends (`sweep`) was cut by a crash or landed in no record, and is added to the run's
record (`RunRecord.unrecorded`). A crash between the candidate's write and `settle` counts a call
twice at worst (the estimate and the real count), never not at all. Completion tokens of a cut
call are unknown: none are counted.

Reservations are tagged with the experiment and turn that asked (`tagged`, per thread: parallel
lanes ask at once); a call outside any tag is kept until the next sweep.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from agent.atomic_file import write_atomically
from agent.records import Cost

FOLDER = "inflight"


def slot_tag(exp: int, turn: int) -> str:
    """The tag of an experiment's turn: its reservations are named `<exp>-<turn>-…`."""
    return f"{exp}-{turn}"


class CallJournal:
    """Reservations of model calls in `folder` (a run's `inflight/`). Thread-safe."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._local = threading.local()
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    tag_of = staticmethod(slot_tag)

    @contextlib.contextmanager
    def tagged(self, tag: str) -> Iterator[None]:
        """Reservations made by this thread inside the block carry `tag` (see `slot_tag`)."""
        before = getattr(self._local, "tag", None)
        self._local.tag = tag
        try:
            yield
        finally:
            self._local.tag = before

    def reserve(self, cost: Cost) -> Path | None:
        """Write one call's reservation (atomically, synced); None when it could not be written.

        Counting is best effort: a full or read-only disk does not stop the call (the run's own
        writes will say so)."""
        tag = getattr(self._local, "tag", None) or "run"
        with self._lock:
            number = next(self._numbers)
        path = self.folder / f"{tag}-{os.getpid()}-{number}.json"
        try:
            write_atomically(path, json.dumps(asdict(cost), sort_keys=True))
        except OSError:
            return None
        return path

    def update(self, path: Path | None, cost: Cost) -> None:
        """Replace a reservation's estimate with what its attempt was counted once it ended (`cost`):
        a call refused by status cost no tokens, one that answered cost what its usage said.
        Left as it was when it is gone already (settled or swept) or cannot be written."""
        if path is None or not path.exists():
            return
        with contextlib.suppress(OSError):
            write_atomically(path, json.dumps(asdict(cost), sort_keys=True))

    def _files(self, tag: str | None = None) -> list[Path]:
        if not self.folder.is_dir():
            return []
        prefix = "" if tag is None else f"{tag}-"
        return sorted(
            p
            for p in self.folder.glob(f"{prefix}*.json")
            if not p.name.startswith(".") and p.is_file() and not p.is_symlink()  # only what `reserve` writes
        )

    def pending(self, tag: str | None = None) -> Cost:
        """What the reservations tagged `tag` (None: all of them) add up to."""
        return sum((_read(path) for path in self._files(tag)), Cost())

    def settle(self, tag: str) -> None:
        """Remove the reservations tagged `tag`: their calls' spend is durable elsewhere now."""
        self.forget(self._files(tag))

    def sweep(self) -> tuple[Cost, list[Path]]:
        """What every reservation left adds up to, and their files (removed by the caller once
        the sum is saved: `forget`)."""
        files = self._files()
        return sum((_read(path) for path in files), Cost()), files

    @staticmethod
    def forget(files: list[Path]) -> None:
        """Remove reservations whose sum is saved; one that cannot be removed is left (a damaged
        folder must not stop a run, nor make every resume count its calls again: see `_files`)."""
        for path in files:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)


MOST_TOKENS = 10_000_000  # more than any context holds: a reservation past it was not written by `reserve`
MOST_USD = 1_000.0


def _read(path: Path) -> Cost:
    """A reservation's cost; one cut short, edited by hand or holding what `reserve` never writes
    (a float count, an infinite price: `run.json` then failed its own audit) counts as one call of
    unknown tokens."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {k: v for k, v in data.items() if k in Cost.__dataclass_fields__}
    except (OSError, ValueError, AttributeError):
        return Cost(calls=1)
    if not all(_plausible(key, value) for key, value in known.items()):
        return Cost(calls=1)
    return Cost(**known)


def _plausible(key: str, value: object) -> bool:
    """A field as `reserve` writes it: a count is an int in range, the price a finite float."""
    if key == "usd":
        return type(value) in (int, float) and 0 <= value <= MOST_USD  # type: ignore[operator]
    return type(value) is int and 0 <= value <= MOST_TOKENS
