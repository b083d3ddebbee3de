"""The run loop's checkpoint store: LangGraph's SqliteSaver, keeping only the newest checkpoints.

LangGraph keeps every checkpoint it writes (a snapshot after each node, about 16 per
experiment, ~47 KB per experiment with their pending writes) for time travel the loop never
uses: `resume` reads the newest checkpoint and its pending writes, nothing older. A run of
2,000 experiments (a nightly job's) left ~100 MB behind. Every `PRUNE_EVERY` checkpoints,
those older than the newest `KEEP` of the run are deleted with their writes, in the same
transaction discipline as the saver's own writes; SQLite reuses the freed pages, so the
file stops growing. Checkpoint ids sort by time: the saver itself reads the newest one as
`ORDER BY checkpoint_id DESC`.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

KEEP = 64  # four experiments' worth: the newest and its parents, with room to spare
PRUNE_EVERY = 32


class PrunedSaver(SqliteSaver):
    """SqliteSaver that deletes a thread's old checkpoints as it writes new ones."""

    def __init__(self, *args: Any, keep: int = KEEP, every: int = PRUNE_EVERY, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keep = keep
        self.every = every
        self._puts = 0

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        saved = super().put(config, checkpoint, metadata, new_versions)
        self._puts += 1
        if self._puts % self.every == 0:
            self.prune(saved["configurable"]["thread_id"], saved["configurable"]["checkpoint_ns"])
        return saved

    def prune(self, thread_id: str, checkpoint_ns: str = "") -> int:
        """Delete the thread's checkpoints (and their writes) older than its newest `keep`."""
        with self.cursor() as cur:
            cur.execute(
                "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? "
                "ORDER BY checkpoint_id DESC LIMIT 1 OFFSET ?",
                (thread_id, checkpoint_ns, self.keep - 1),
            )
            row = cur.fetchone()
            if row is None:
                return 0
            oldest_kept = row[0]
            where = "thread_id = ? AND checkpoint_ns = ? AND checkpoint_id < ?"
            cur.execute(f"DELETE FROM writes WHERE {where}", (thread_id, checkpoint_ns, oldest_kept))
            cur.execute(f"DELETE FROM checkpoints WHERE {where}", (thread_id, checkpoint_ns, oldest_kept))
            return cur.rowcount
