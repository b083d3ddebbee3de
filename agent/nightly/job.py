"""One nightly job of kind `run` or `mle`, in its own process: start (warm) or resume, within its budget.

The parent (`agent.nightly.runner`) reads two things from this process's stdout:
`RUN <id>` as soon as the run exists (so a killed night can be resumed), and one
JSON line at the end (the loop's result).
"""

from __future__ import annotations

import inspect
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from agent.errors import UserError
from agent.nightly.jobs import Jobs, NightBudget
from agent.task import Task, TaskFile


def with_budget(task: Task, budget: NightBudget) -> Task:
    """The task with the night's experiments, tokens and cost written into its `[budget]`.

    The change is made in the task's text, so the run's recorded task source says
    what budget it ran under, and `resume` (which rebuilds the task from that
    source) keeps it. Time is not written here: the window clamps it per night.
    """
    values = {
        k: v
        for k, v in (("experiments", budget.experiments), ("tokens", budget.tokens), ("cost", budget.cost))
        if v is not None
    }
    if not values:
        return task
    source = override_budget(task.source, values)
    try:
        spec = TaskFile.model_validate(tomllib.loads(source))
    except Exception as error:
        raise UserError(f"{task.path}: cannot apply the night's budget to [budget]: {error}") from None
    return Task(path=task.path, spec=spec, source=source)


def override_budget(source: str, values: dict[str, Any]) -> str:
    """`source` with `values` set in its `[budget]` table (added when missing), other keys kept."""
    lines = source.splitlines()
    header = re.compile(r"^\s*\[budget\]\s*(#.*)?$")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    rendered = [f"{key} = {json.dumps(value)}  # strop nightly budget" for key, value in values.items()]
    if start is None:
        return source.rstrip("\n") + "\n\n[budget]\n" + "\n".join(rendered) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"^\s*\[", lines[i])), len(lines))
    keys = re.compile(rf"^\s*({'|'.join(map(re.escape, values))})\s*=")
    body = [line for line in lines[start + 1 : end] if not keys.match(line)]
    return "\n".join(lines[: start + 1] + rendered + body + lines[end:]) + "\n"


def run_job(
    jobs: Jobs,
    name: str,
    seconds: float,
    base: str | None,
    resume: str | None,
    home: Path,
    started: float | None = None,
) -> dict[str, Any]:
    """Drive the job's run to its end (or the time given); returns the loop's result as plain data.

    `started` (epoch seconds, the job process's start) makes `seconds` count from then.
    """
    from agent.loop import Overrides, graph
    from agent.run_index import RunIndex
    from agent.task import load_task

    index = RunIndex(home)
    if resume:
        extra = (
            {"more_time": seconds} if "more_time" in inspect.signature(graph.resume_run).parameters else {}
        )
        result = graph.resume_run(resume, home, index, sink=announce, started=started, **extra)
    else:
        task = with_budget(load_task(jobs.task_path(name)), jobs.spec.jobs[name].budget)
        overrides = Overrides(time=seconds, executor=jobs.executor(name).to_dict())
        result = _start(graph, task, home, index, overrides, announce, base, started)
    return {"run": result.run_id, "status": result.status, "stop_reason": result.stop_reason}


NIGHT_EXPERIMENTS = 10_000  # an mle job without `experiments` in its budget: the night's time decides


def announce(event: Any) -> None:
    """Tell the nightly the run's id as soon as it exists (`RUN <id>`), so a killed night resumes it."""
    from agent.loop import RunStarted
    from agent.nightly.announce import announce_run

    if isinstance(event, RunStarted):
        announce_run(event.run, always=True)


def run_mle_job(
    jobs: Jobs,
    name: str,
    seconds: float,
    folder: Path,
    base: str | None,
    resume: str | None,
    home: Path,
    started: float | None = None,
) -> dict[str, Any]:
    """An mle job: `strop mle run` in the job's own working folder, warm or resumed; its report as data.

    The folder is kept from night to night (with warm start), so last night's best commit
    is in the experiment repo that tonight's run starts from.
    """
    from agent.domains.mle.competition import load_competition
    from agent.domains.mle.runner import RunRequest, resume_competition, run_competition

    spec = jobs.spec.jobs[name]
    competition = load_competition(jobs.competition_path(name))
    if resume:
        outcome = resume_competition(resume, competition, folder, home, seconds, announce, started)
    else:
        options = dict(zip(spec.args[::2], map(int, spec.args[1::2]), strict=True))
        request = RunRequest(
            competition,
            folder,
            seed=options.get("--seed", 0),
            experiments=spec.budget.experiments or NIGHT_EXPERIMENTS,
            time=seconds,
            parallel=options.get("--parallel"),
            folds=options.get("--folds"),
            reuse=True,
            base=base,
            executor=jobs.executor(name).to_dict(),
        )
        outcome = run_competition(request, home, sink=announce, started=started)
    return outcome.to_json()


def _start(
    graph: Any,
    task: Task,
    home: Path,
    index: Any,
    overrides: Any,
    sink: Any,
    base: str | None,
    started: float | None = None,
) -> Any:
    """`start_run`, with experiment 0 at `base` for a warm start."""
    if base is None:
        return graph.start_run(task, home, index, overrides, sink=sink, started=started)
    if "base" not in inspect.signature(graph.start_run).parameters:
        raise UserError("this strop's run loop cannot start from a given commit: set warm_start = false")
    return graph.start_run(task, home, index, overrides, sink=sink, base=base, started=started)
