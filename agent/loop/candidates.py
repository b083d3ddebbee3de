"""Candidates on disk: each turn's proposal is a JSON file in the run folder.

The checkpointed state holds the file's path, never its content. A file is written
once, atomically (temporary file, fsync, rename), so a node that runs again after a
crash finds the proposal it already paid for instead of asking the proposer twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agent.atomic_file import write_atomically
from agent.records import Cost
from agent.run import Candidate


def candidate_path(folder: Path, exp: int, turn: int) -> Path:
    return folder / "candidates" / f"{exp}-{turn}.json"


def save_candidate(path: Path, candidate: Candidate, extra: dict[str, Any] | None = None) -> None:
    data = asdict(candidate)
    data.update(extra or {})
    write_atomically(path, json.dumps(data, indent=1, sort_keys=True, default=str))


def load_candidate(path: Path) -> tuple[Candidate, dict[str, Any]]:
    """The candidate and the loop's notes on it (check outcome, extension request)."""
    data = json.loads(path.read_text())
    fields = {k: data.pop(k) for k in list(data) if k in Candidate.__dataclass_fields__}
    fields["cost"] = Cost(**fields.get("cost", {}))
    return Candidate(**fields), data
