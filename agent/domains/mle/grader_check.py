"""The pre-check of a competition's grade.py: run as the run's scorer runs it, before any experiment.

A grade.py that raises, hangs, returns no score, prints more than the scorer may print, or
needs what its sandbox does not give it (a file outside its folder, the network) fails the
same way on every experiment's scoring: the run would spend its whole budget, record every
candidate "buggy" and end "no valid submission" with the cause in no line the user sees. So
`check_grader` runs the task's own scorer (`scorer.py`, copied into the task's `scorer/`) on
the first split's placeholder submission, in the scorer's sandbox with the scorer's limits
(memory, output, time), and refuses what fails there in one `GraderError` line (exit 2).

It reads what a selection scoring reads (held-out answers cut from the public train.csv), never
the competition's private answers, which a run opens once, for the final grading. A refusal of
the placeholder (InvalidSubmission) is fine: the grader ran; but not the scorer's "submission
file … does not exist", which says that the check itself is broken (an internal error). The placeholder predicts 0
everywhere, on which a correlation is honestly NaN; so a score that is not finite there is
asked again of the held-out answers themselves, as a perfect submission, and the grader is
refused only when that one is not finite either. Built-in metrics are strop's own code and
need no check. The scorer says whose fault a failure is by its exit status (see `scorer`).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.domains.mle.competition import Competition, CompetitionError
from agent.domains.mle.grading import GraderError
from agent.domains.mle.scorer import GRADER_FAILED, NOT_FINITE, REFUSED

if TYPE_CHECKING:
    from evaluators.spec import EvaluatorSpec
    from sandbox.execution import Execution, Sandbox

PLACEHOLDER = "a placeholder submission of the holdout"
PERFECT = "the holdout's own answers as a submission"
CHECK_FOLDER = ".grader-check"  # in the working folder, removed after the check


def check_grader(competition: Competition, folder: Path, timeout: float | None = None) -> None:
    """Refuse, in one `GraderError` line, a grade.py that fails in the run's scorer on the holdout.

    `timeout` bounds the whole check (the time the command's `--time` leaves); the scorer's own
    `score_timeout` bounds it anyway.
    """
    if competition.grade_file is None:
        return
    from agent.task import load_task

    folder = Path(folder).resolve()  # the scorer runs in its own folder: a relative path names nothing there
    spec = load_task(folder / "task.toml").evaluator
    limit = spec.scorer_timeout if timeout is None else max(0.5, min(timeout, spec.scorer_timeout))
    box = _scorer_sandbox(spec, competition)
    check = folder / CHECK_FOLDER
    try:
        what, ran = _attempts(folder, check, spec, box, time.monotonic() + limit)
    finally:
        shutil.rmtree(check, ignore_errors=True)
    _judge(competition, what, ran, limit, clamped=limit < spec.scorer_timeout)


def _scorer_sandbox(spec: EvaluatorSpec, competition: Competition) -> Sandbox:
    """The sandbox the run's scorer gets (`agent.run`'s choice, cached for the run)."""
    from sandbox import open_sandbox
    from sandbox.backends import open_scorer_sandbox
    from sandbox.execution import SandboxError

    try:
        return open_scorer_sandbox(spec.score_sandbox, open_sandbox(spec.sandbox))
    except SandboxError as error:
        raise CompetitionError(
            f"{competition.grade_file}: cannot be checked: no sandbox for the scorer starts here ({error}); "
            "`strop sandbox check` says which work"
        ) from None


def _attempts(
    folder: Path, check: Path, spec: EvaluatorSpec, box: Sandbox, ends: float
) -> tuple[str, Execution]:
    """The placeholder's scoring, then, if it was not finite, the perfect submission's."""
    import pandas as pd

    from evaluators.scratch import readable_copy

    split = "fold-0" if (folder / "public" / "fold-0").is_dir() else ""
    public, private = check / "public", check / "private"
    readable_copy(folder / "scorer", check / "scorer")
    readable_copy(folder / "public" / split, public)
    readable_copy(folder / "private" / "validate" / split, private)
    ran = _score(check, spec, box, public / "holdout_sample.csv", ends)
    if ran.killed_by is not None or ran.exit_code != NOT_FINITE:
        return PLACEHOLDER, ran
    id_column = _id_column(check / "scorer")
    placeholder = pd.read_csv(public / "holdout_sample.csv", dtype={id_column: str}, nrows=0)
    answers = pd.read_csv(private / "holdout_answers.csv", dtype={id_column: str})
    if not set(placeholder.columns) <= set(answers.columns):
        return PLACEHOLDER, ran
    perfect = check / "perfect.csv"
    answers[list(placeholder.columns)].to_csv(perfect, index=False)
    return PERFECT, _score(check, spec, box, perfect, ends)


def _id_column(scorer: Path) -> str:
    import json

    return str(json.loads((scorer / "scoring.json").read_text(encoding="utf-8"))["id_column"])


def _score(check: Path, spec: EvaluatorSpec, box: Sandbox, holdout: Path, ends: float) -> Execution:
    """One run of the task's scorer, phase `validate`, on outputs whose holdout.csv is `holdout`."""
    from evaluators.command import command_argv
    from evaluators.scratch import readable_copy, remove_tree
    from evaluators.staged import OUTPUTS_VAR, PRIVATE_VAR, PUBLIC_VAR
    from sandbox.execution import Bind, Limits, SandboxError

    outputs = check / "outputs"
    if outputs.exists():
        remove_tree(outputs)
    outputs.mkdir(mode=0o755)
    readable_copy(check / "public" / "sample_submission.csv", outputs / "submission.csv")
    readable_copy(holdout, outputs / "holdout.csv")
    public, private = check / "public", check / "private"
    env = {
        **spec.env,
        OUTPUTS_VAR: str(outputs),
        PUBLIC_VAR: str(public),
        PRIVATE_VAR: str(private),
        "STROP_PHASE": "validate",
    }
    limits = Limits(timeout=max(0.5, ends - time.monotonic()), memory=spec.memory, cpu_time=spec.cpu_time)
    assert spec.score is not None  # `strop mle run` writes a two-stage task
    try:
        return box.run(
            command_argv(spec.score),
            check / "scorer",
            limits,
            env=env,
            binds=[Bind(outputs), Bind(public), Bind(private)],
        )
    except SandboxError as error:
        raise CompetitionError(f"the scorer's sandbox failed while checking grade.py: {error}") from None


def _judge(competition: Competition, what: str, ran: Execution, limit: float, clamped: bool) -> None:
    """Nothing when the grader gave a score or refused the submission; else its `GraderError`."""
    from evaluators.command import first_line
    from sandbox.execution import KilledBy, Limits

    where = competition.grade_file
    if ran.killed_by is None and ran.exit_code == REFUSED and _no_submission(ran):
        # the check laid out no submission where the scorer looked: the check is broken, not the
        # grader, and passing it would let a grader that fails on every experiment through
        raise RuntimeError(
            f"the pre-check of {where} gave the scorer no submission: {first_line(ran.stderr, 300)}"
        )
    if ran.ok or (ran.killed_by is None and ran.exit_code == REFUSED):
        return
    if ran.killed_by is KilledBy.TIMEOUT:
        left = " (what --time left it)" if clamped else ""
        raise GraderError(f"{where}: the grader did not finish on {what} within {limit:.3g}s{left}")
    if ran.killed_by is KilledBy.OUTPUT:
        most = Limits().output_bytes >> 20
        raise GraderError(
            f"{where}: on {what} the grader printed more than {most} MiB, the most the run's scorer may "
            "print (it would be killed on every experiment); print less in grade.py"
        )
    if ran.killed_by is not None:
        raise GraderError(f"{where}: on {what} the scorer running the grader was killed ({_killed(ran)})")
    said = first_line(ran.stderr, 300) or first_line(ran.stdout, 300) or f"exit status {ran.exit_code}"
    if ran.exit_code not in (GRADER_FAILED, NOT_FINITE):
        said = f"the scorer failed in its sandbox (exit status {ran.exit_code}): {said}"
    elif "returned" in said:
        said += "; grade(submission_df, answers_df) must return the score as a float"
    else:  # it raised: maybe on a file or the network that the sandbox does not give it
        said += f" (in the run's {ran.backend} sandbox, as every scoring runs it)" if ran.backend else ""
    raise GraderError(f"{where}: on {what} {said}")


def _no_submission(ran: Execution) -> bool:
    """The scorer refused because a file the check wrote was not where it looked (`format_problem`)."""
    from evaluators.command import first_line

    said = first_line(ran.stderr, 10_000)
    return "submission file " in said and said.endswith(" does not exist")


def _killed(ran: Any) -> str:
    from evaluators.command import KILLED_WHY

    return str(KILLED_WHY.get(ran.killed_by, ran.killed_by.value))
