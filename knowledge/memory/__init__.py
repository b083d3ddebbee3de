"""Episodic memory: lessons from experiments, and the failing regions of a search space."""

from knowledge.memory.lesson import Evidence, Lesson, LessonKind
from knowledge.memory.memory import Memory, ScoredLesson, approx_tokens
from knowledge.memory.region import Region, failing_regions
from knowledge.memory.signature import error_signature, strip_accidents
from knowledge.memory.trace import ExperimentTrace, Status

__all__ = [
    "Evidence",
    "ExperimentTrace",
    "Lesson",
    "LessonKind",
    "Memory",
    "Region",
    "ScoredLesson",
    "Status",
    "approx_tokens",
    "error_signature",
    "failing_regions",
    "strip_accidents",
]
