"""The ray executor for the run loop: each lane's evaluation as one Ray task.

The driver packs what a worker needs and nothing more: the run's evaluator bundle
(once per run, `ray.put`) and, per evaluation, the lane's files as tar bytes
without `.git`. Each task asks for one CPU and the task's evaluator memory limit,
so Ray places it on a node that can honour the limits the sandbox will enforce.

Faults. A task whose worker process or node dies is submitted again by the driver,
up to `spec.retries` times, while the cluster answers (a candidate that fails is a
verdict, never retried); after that the evaluation is recorded `buggy` with the
reason. The driver retries rather than Ray (see `lost_under`). The verdicts are
recorded by the driver alone, once each, in the order of the jobs, so nothing is
duplicated. While it waits, the driver probes the head; when the cluster is gone it
stops with one line (`ClusterGone`) and the evaluation stays pending: `strop resume
RUN` (with `--executor local` if need be) runs it.
A driver killed mid-evaluation takes its tasks with it (Ray cancels the tasks of a
dead driver); `strop resume` re-dispatches them, since their records are pending.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.executors.cluster import (
    ClusterGone,
    check_capacity,
    connect,
    gcs_address,
    head_reachable,
    lost_under,
)
from agent.executors.remote import (
    EvaluatorBundle,
    RemoteJob,
    RemoteResult,
    bundle_for,
    evaluate_job,
    pack_tree,
)
from agent.executors.spec import EvaluationJob, ExecutorSpec
from evaluators.command import write_log
from evaluators.verdict import Status, Verdict

WAIT_SLICE = 1.0  # seconds between health probes while evaluations are in flight
SLACK = 30.0  # seconds past an evaluation's own limits before the driver gives up on its task


class RayExecutor:
    name = "ray"

    def __init__(self, spec: ExecutorSpec, ray: Any) -> None:
        self.spec = spec
        self.ray = ray
        self.gcs = gcs_address(ray)
        self._bundles: dict[str, tuple[Any, EvaluatorBundle]] = {}
        self._lock = threading.Lock()
        self._task = ray.remote(evaluate_job)
        self.placements: list[tuple[str, str, int]] = []  # (job name, node, worker pid), for tests

    @classmethod
    def connect(cls, spec: ExecutorSpec) -> RayExecutor:
        return cls(spec, connect(spec.ray_address))

    def _bundle(self, evaluator: Any) -> Any:
        fingerprint = evaluator.fingerprint
        with self._lock:  # async lanes call evaluate_all from several threads: one bundle per evaluator
            if fingerprint not in self._bundles:
                check_capacity(self.ray, 1, evaluator.spec.memory)
                bundle = bundle_for(evaluator)
                self._bundles[fingerprint] = (self.ray.put(bundle), bundle)
            return self._bundles[fingerprint][0]

    def _submit(self, evaluator: Any, bundle: Any, job: EvaluationJob) -> Any:
        left = None if job.deadline is None else max(0.0, job.deadline - time.time())
        remote = RemoteJob(name=job.name, tree=pack_tree(job.checkout), phase=job.phase, seconds_left=left)
        options = {"num_cpus": 1, "memory": int(evaluator.spec.memory), "max_retries": 0}  # see Faults
        return self._task.options(**options).remote(bundle, remote)

    def evaluate_all(self, evaluator: Any, jobs: Sequence[EvaluationJob]) -> list[Verdict]:
        if not jobs:
            return []
        if any(job.phase != "validate" for job in jobs):
            from agent.executors.local import LocalExecutor  # the hidden test never leaves the driver

            return LocalExecutor().evaluate_all(evaluator, jobs)
        self._ensure_alive()
        bundle = self._bundle(evaluator)
        results = self._gather(evaluator, bundle, list(jobs), _patience(evaluator, jobs))
        return [self._verdict(evaluator, job, result) for job, result in zip(jobs, results, strict=True)]

    def _gather(
        self, evaluator: Any, bundle: Any, jobs: list[EvaluationJob], limit: float
    ) -> list[RemoteResult | BaseException]:
        """Every job's result (or the error that ended it), probing the head while waiting; a job
        whose worker or node was lost goes again while tries are left."""
        results: dict[int, RemoteResult | BaseException] = {}
        tries = [1] * len(jobs)
        running = {self._submit(evaluator, bundle, job): index for index, job in enumerate(jobs)}
        started = time.monotonic()
        try:
            while running:
                ready, _ = self.ray.wait(list(running), num_returns=len(running), timeout=WAIT_SLICE)
                for ref in ready:
                    index = running.pop(ref)
                    result = self._get(ref)
                    if lost_under(self.ray, result) and tries[index] <= self.spec.retries:
                        tries[index] += 1
                        running[self._submit(evaluator, bundle, jobs[index])] = index
                    else:
                        results[index] = result
                if running and not self._alive():
                    raise ClusterGone(self._gone_message())
                if running and time.monotonic() - started > limit:
                    for ref, index in running.items():
                        self._cancel(ref)
                        results[index] = TimeoutError(f"no answer from the cluster within {limit:.0f}s")
                    running = {}
        except BaseException:
            for ref in running:
                self._cancel(ref)
            raise
        return [results[index] for index in range(len(jobs))]

    def _get(self, ref: Any) -> RemoteResult | BaseException:
        try:
            return self.ray.get(ref)
        except Exception as error:  # noqa: BLE001 - a lost worker or node is this evaluation's outcome
            if not self._alive():
                raise ClusterGone(self._gone_message()) from None
            return error

    def _verdict(self, evaluator: Any, job: EvaluationJob, result: RemoteResult | BaseException) -> Verdict:
        if isinstance(result, BaseException):
            kind = type(result).__name__
            tries = self.spec.retries + 1 if lost_under(self.ray, result) else 1
            first = next((line for line in str(result).splitlines() if line.strip()), "")[:160]
            return Verdict(
                status=Status.BUGGY,
                reason=f"lost on the Ray cluster after {tries} attempt(s): {kind}: {first}",
                feedback="The evaluation's worker was lost (not the candidate's fault, as far as strop knows).",
                phase=job.phase,
                fingerprint=evaluator.fingerprint,
                backend="ray",
            )
        verdict = Verdict.from_dict(result.verdict)
        if result.log:
            path, digest = write_log(Path(evaluator.log_dir), job.name, job.phase, result.log)
            verdict.log_path, verdict.log_digest = str(path), digest
        else:
            verdict.log_path = ""
        self.placements.append((job.name, result.node, result.pid))
        return verdict

    def _alive(self) -> bool:
        return not self.gcs or head_reachable(self.gcs) or head_reachable(self.gcs)

    def _ensure_alive(self) -> None:
        if not self._alive():
            raise ClusterGone(self._gone_message())

    def _gone_message(self) -> str:
        return f"the Ray cluster at {self.gcs or self.spec.ray_address} stopped answering"

    def _cancel(self, ref: Any) -> None:
        with contextlib.suppress(Exception):  # best effort: the task may be done or its node gone
            self.ray.cancel(ref, force=True)

    def close(self) -> None:
        from agent.executors.cluster import disconnect

        if self._alive():
            disconnect()


def _patience(evaluator: Any, jobs: Sequence[EvaluationJob]) -> float:
    """How long the driver waits for a batch: both stages' limits, every retry, queueing, slack."""
    spec = evaluator.spec
    per_try = float(spec.timeout) + float(getattr(spec, "scorer_timeout", 0.0) or 0.0) + SLACK
    return per_try * (1 + len(jobs)) * 3
