"""The knowledge package's public API is explicit, and the package does not import agent/."""

from __future__ import annotations

import ast
from pathlib import Path

import knowledge

KNOWLEDGE = Path(knowledge.__file__).parent


def test_exported_members() -> None:
    assert set(knowledge.__all__) == {
        "Chunk", "Embedder", "EntryNotFound", "EntryType", "Evidence", "ExperimentTrace", "HashingEmbedder",
        "Hit", "IngestReport", "KnowledgeError", "KnowledgeStore", "Lesson", "LessonKind", "Memory",
        "MiniLMEmbedder", "Region", "SourceInfo", "StoreBusy", "StoreUnavailable", "approx_tokens",
        "default_embedder", "error_signature", "format_context", "parse_entry_type",
    }  # fmt: skip
    assert all(hasattr(knowledge, name) for name in knowledge.__all__)


def test_knowledge_never_imports_agent_or_benchmarks() -> None:
    for path in KNOWLEDGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] in ("agent", "benchmarks") for n in names), path
