"""A generic evolutionary engine: islands, NSGA-II, MAP-Elites archive, novelty rejection,
killable parallel evaluation, checkpoint and resume. It knows no domain: problems plug in
through `Domain` (see `agent.evolution.domain`)."""

from agent.evolution.archive import Archive
from agent.evolution.domain import Domain, Fitness, Individual, Refined, SeededDomain
from agent.evolution.engine import BudgetTooShort, Engine, EngineConfig, EngineConfigError, EngineResult
from agent.evolution.events import (
    CheckpointWritten,
    EngineEvent,
    EngineStats,
    GenerationDone,
    ParetoPointFound,
)
from agent.evolution.pool import EvaluationPool, Outcome

__all__ = [
    "Archive",
    "BudgetTooShort",
    "CheckpointWritten",
    "Domain",
    "Engine",
    "EngineConfig",
    "EngineConfigError",
    "EngineEvent",
    "EngineResult",
    "EngineStats",
    "EvaluationPool",
    "Fitness",
    "GenerationDone",
    "Individual",
    "Outcome",
    "ParetoPointFound",
    "Refined",
    "SeededDomain",
]
