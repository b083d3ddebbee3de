"""The local executor: each lane's evaluation in a thread of the driver, in this host's sandbox.

This is what `--parallel K` always meant: K sandboxed evaluations at once on one
machine. The threads only wait on sandboxed processes; verdicts come back in the
order of the jobs, so a run is the same whatever order they finish in.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agent.executors.spec import EvaluationJob
from evaluators.verdict import Verdict


class LocalExecutor:
    name = "local"

    def evaluate_all(self, evaluator: Any, jobs: Sequence[EvaluationJob]) -> list[Verdict]:
        if not jobs:
            return []
        if len(jobs) == 1:
            return [evaluate_here(evaluator, jobs[0])]
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            return list(pool.map(lambda job: evaluate_here(evaluator, job), jobs))

    def close(self) -> None:
        return None


def evaluate_here(evaluator: Any, job: EvaluationJob) -> Verdict:
    """The evaluator on `job.checkout`, clamped to the deadline when the evaluator takes one."""
    parameters = inspect.signature(evaluator.evaluate).parameters
    kwargs: dict[str, Any] = {"name": job.name}
    if job.phase != "validate":
        kwargs["phase"] = job.phase
    if job.deadline is not None and "deadline" in parameters:
        kwargs["deadline"] = job.deadline
    return evaluator.evaluate(job.checkout, **kwargs)
