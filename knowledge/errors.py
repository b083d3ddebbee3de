"""The errors the knowledge store raises, and who sees them.

    KnowledgeError            base; the store refused on purpose
    ├── StoreUnavailable       missing, corrupt or foreign store (user-facing: exit 2)
    ├── StoreBusy              another process holds the writer lock past the timeout (exit 2)
    └── EntryNotFound         `forget`/`remove` of a lesson id or source the store does not hold (exit 2)

`knowledge/` must not import `agent/`, so these do not derive from
`agent.errors.UserError`; each carries `exit_code = 2` and the CLI re-raises
it as a `UserError`, whose message is already one clear line with the fix.
"""

from __future__ import annotations

REBUILD_HINT = "rebuild it with `strop knowledge rebuild` (re-ingests the recorded sources)"


class KnowledgeError(Exception):
    """Base of every error the knowledge store raises on purpose."""

    exit_code = 2


class StoreUnavailable(KnowledgeError):
    """The store is missing, corrupt, or was built with another embedder."""


class StoreBusy(KnowledgeError):
    """Another process is writing to the store and did not finish in time."""


class EntryNotFound(KnowledgeError):
    """An entry, source or lesson id that the store does not hold."""
