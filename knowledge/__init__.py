"""The knowledge store and episodic memory: offline, typed, measured.

Public API (what the run loop and the CLI call; locked by tests/knowledge/test_api.py):

    KnowledgeStore.open(folder) -> store;  store.add(paths, progress) -> IngestReport
    store.search(query, k=5, types=None) -> list[Hit];  store.list_sources(); store.remove(source)
    KnowledgeStore.rebuild(folder)          re-ingest the recorded roots into a fresh store
    Memory.open(folder);  memory.learn(ExperimentTrace) -> list[Lesson]
    memory.relevant(goal, error_text, k, token_budget) -> list[Lesson]
    memory.failing_regions(task_name, fingerprint=None) -> list[Region]
    format_context(hits, lessons, token_budget, roots=()) -> str

`knowledge/` imports nothing from `agent/`; it takes folders as arguments.
Heavy libraries (chromadb, torch, sentence-transformers, bm25s) are imported
on first use, so importing this package is cheap.
"""

from knowledge.context import format_context
from knowledge.embedder import Embedder, HashingEmbedder, MiniLMEmbedder, default_embedder
from knowledge.entry import Chunk, EntryType, Hit, parse_entry_type
from knowledge.errors import EntryNotFound, KnowledgeError, StoreBusy, StoreUnavailable
from knowledge.memory import (
    Evidence,
    ExperimentTrace,
    Lesson,
    LessonKind,
    Memory,
    Region,
    approx_tokens,
    error_signature,
)
from knowledge.store import IngestReport, KnowledgeStore, SourceInfo

__all__ = [
    "Chunk",
    "Embedder",
    "EntryNotFound",
    "EntryType",
    "Evidence",
    "ExperimentTrace",
    "HashingEmbedder",
    "Hit",
    "IngestReport",
    "KnowledgeError",
    "KnowledgeStore",
    "Lesson",
    "LessonKind",
    "Memory",
    "MiniLMEmbedder",
    "Region",
    "SourceInfo",
    "StoreBusy",
    "StoreUnavailable",
    "approx_tokens",
    "default_embedder",
    "error_signature",
    "format_context",
    "parse_entry_type",
]
