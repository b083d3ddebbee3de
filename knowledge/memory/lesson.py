"""A lesson: what happened, when, what fixed it, how sure we are, and the evidence.

Kinds:
  failure   an error signature seen in a situation; `fix` is filled by the first
            successful child of a failed experiment (its idea and diff excerpt)
  outcome   an idea that changed the score (positive `score_delta` = better)

Confidence is the mean of a Beta(1, 1) prior updated by the lesson's record,
(confirmations + 1) / (confirmations + contradictions + 2): a new lesson
starts at 1/2, each confirmation raises it, each contradiction lowers it, and
it never reaches 0 or 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

MAX_EVIDENCE = 5


class LessonKind(StrEnum):
    FAILURE = "failure"
    OUTCOME = "outcome"


@dataclass(frozen=True)
class Evidence:
    run_id: str
    experiment_id: str
    excerpt: str = ""


@dataclass
class Lesson:
    id: str
    kind: LessonKind
    task_name: str
    signature: str
    situation: str
    text: str
    fix: str | None = None
    fix_experiment: str | None = None
    score_delta: float | None = None
    confirmations: int = 0
    contradictions: int = 0
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        return (self.confirmations + 1) / (self.confirmations + self.contradictions + 2)

    def add_evidence(self, item: Evidence) -> None:
        if all(e.experiment_id != item.experiment_id for e in self.evidence):
            self.evidence = [*self.evidence, item][-MAX_EVIDENCE:]

    def render(self) -> str:
        """One compact paragraph for a prompt or a terminal."""
        parts = [f"[{self.kind.value}, confidence {self.confidence:.2f}] {self.text}"]
        if self.fix:
            parts.append(f"Fix that worked: {self.fix}")
        if self.score_delta is not None:
            parts.append(f"Score delta: {self.score_delta:+.4g}")
        return "\n".join(parts)

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["confidence"] = round(self.confidence, 4)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Lesson:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["kind"] = LessonKind(str(fields["kind"]))
        fields["evidence"] = [Evidence(**e) for e in fields.get("evidence", [])]  # type: ignore[union-attr]
        return cls(**fields)  # type: ignore[arg-type]
