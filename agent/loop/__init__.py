"""The run loop: one LangGraph graph that proposes, checks, commits, evaluates and learns.

Public API:

    start_run(task, home, index, overrides=None, sink=None) -> LoopResult
    resume_run(ref, home, index, sink=None) -> LoopResult
    request_stop(ref, index) -> run id
    Overrides(parallel, experiments, time)          command-line budget overrides
    events: RunStarted, ExperimentStarted, ExperimentFinished, RunStopped, Note

Import cost: this package imports LangGraph only when a run is driven.
"""

from agent.loop.events import Event, ExperimentFinished, ExperimentStarted, Note, RunStarted, RunStopped
from agent.loop.graph import LoopResult, Overrides, RunBusyError, request_stop, resume_run, start_run

__all__ = [
    "Event",
    "ExperimentFinished",
    "ExperimentStarted",
    "LoopResult",
    "Note",
    "Overrides",
    "RunBusyError",
    "RunStarted",
    "RunStopped",
    "request_stop",
    "resume_run",
    "start_run",
]
