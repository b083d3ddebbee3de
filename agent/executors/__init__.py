"""Executors: where candidate evaluations run, behind one seam.

An evaluation is always the same two-stage (or legacy one-stage) judgement of one
candidate's tree; an executor only decides *where* it runs:

    local   today's behaviour: the driver's own sandbox, lanes in threads (the default)
    ray     a Ray cluster: the candidate's tree (tar bytes, no `.git`) and the run's
            pristine evaluator files travel through the object store; a worker node
            runs the same evaluator in its own sandbox backend with the same limits
            and returns the verdict, the metrics and the log

The driver keeps every single-writer part (git, notes, the run index, knowledge):
workers never see the repository, the run folder or the driver's environment.

Modules:
    spec        ExecutorSpec (kind, address, retries) and its validation
    local       LocalExecutor: the run loop's lanes in threads, on this host
    ray_run     RayExecutor: the run loop's lanes on a Ray cluster
    ray_pool    RayPool: the evolution engine's genome evaluations on a Ray cluster
    remote      what runs on a worker (importable without Ray)
    cluster     connecting, health checks, and `LocalCluster` (a real cluster on
                loopback, for tests, benchmarks and trying things out)

Ray is an optional dependency (`pip install 'strop[ray]'`); nothing here imports it
until a `ray` executor is opened.
"""

from agent.executors.local import LocalExecutor
from agent.executors.spec import EvaluationJob, Executor, ExecutorSpec, open_executor

__all__ = ["EvaluationJob", "Executor", "ExecutorSpec", "LocalExecutor", "open_executor"]
