"""The two-stage evaluator: the candidate's code makes artifacts, the trusted scorer scores them.

Stage `run` executes the task's `run` command on a throwaway export of the
candidate (no `.git`), in the sandbox, with the public data read-only and an
empty outputs folder writable; it is never told the phase. When every process of
it is gone, strop seals the outputs (regular files only, bounded: see
`evaluators.outputs`). Stage `score` runs the task owner's scorer in a second,
separate sandbox (bwrap by default where it works, whatever runs the candidates:
see `sandbox.backends.open_scorer_sandbox`) on a fresh copy of the scorer's files, with the sealed outputs
and the private data of this phase read-only. No candidate code runs there (the
scorer may load an artifact only as data); the metrics are the scorer's output
alone. The final phase's private data exists only in the final phase's stage
`score`, copied in for it and removed after.

A task may give the final phase public data of its own (`final_public`: e.g. every
training row, so that the chosen candidate is refitted on the rows selection held out).
Both stages of the final phase then read it in place of `public`, and the candidate can
tell the phase from it; it learns nothing it could not read before, since both folders
are public. If that run fails before the scorer starts (so before the answers are
copied in), the final phase runs once more on `public`, as the candidate was selected:
a refit that does not fit in its time limit must not cost the run its grade.

With `folds` (see `evaluators.spec`), the validate phase runs both stages once per fold, each
time on a fresh export and scratch folder, with that fold's public and private folders alone;
the verdict's metrics are the folds' means, and the first fold that fails is the verdict.

Only the scorer's last line of error output is shown to the proposer (a
traceback would show the scorer's source).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from evaluators.command import (
    FEEDBACK_CHARS,
    Budgeted,
    command_argv,
    failed_run,
    finish_verdict,
    first_line,
    log_text,
    not_started,
    read_metrics,
    tampered,
    write_log,
)
from evaluators.held import HeldRun
from evaluators.integrity import ProtectedFiles
from evaluators.metrics_output import MetricsError
from evaluators.outputs import SealError, seal_outputs
from evaluators.scratch import SCRATCH, Scratch, export_tree, readable_copy, reap, scratch
from evaluators.spec import EvaluatorSpec
from evaluators.trusted import TrustedFiles
from evaluators.verdict import Status, Verdict
from sandbox.execution import Bind, Execution, Limits, Sandbox, SandboxError
from sandbox.gate import can_hold

OUTPUTS_VAR = "STROP_OUTPUTS"
PRIVATE_VAR = "STROP_PRIVATE"
PUBLIC_VAR = "STROP_PUBLIC"
HOLD_SLACK = 60.0
"""Seconds a held scorer waits past the candidate's stage budget (sealing its outputs) before giving up."""
REFIT_SHARE = 0.6
"""The share of the final phase's time a run on `final_public` may take (the rest is for a second run)."""


class StagedEvaluator:
    """Judges candidates in two stages; never steers, never reads retrieved text."""

    two_stage = True

    def __init__(
        self,
        spec: EvaluatorSpec,
        protected: ProtectedFiles,
        trusted: TrustedFiles,
        sandbox: Sandbox,
        log_dir: Path,
        work_dir: Path,
        scorer_sandbox: Sandbox | None = None,
    ) -> None:
        assert spec.run and spec.score, "a two-stage spec has run and score"
        self.spec = spec
        self.protected = protected
        self.trusted = trusted
        self.sandbox = sandbox
        self.scorer_sandbox = scorer_sandbox or sandbox
        self.log_dir = log_dir
        self.scratch_dir = work_dir / SCRATCH
        reap(self.scratch_dir)

    @property
    def fingerprint(self) -> str:
        """Over the protected workspace files and the scorer, private and public snapshots."""
        return hashlib.sha256(
            f"{self.protected.fingerprint}\n{self.trusted.fingerprint}".encode()
        ).hexdigest()

    def _limits(self, seconds: float) -> Limits:
        return Limits(timeout=seconds, memory=self.spec.memory, cpu_time=self.spec.cpu_time)

    def evaluate(
        self, checkout: Path, name: str, phase: str = "validate", deadline: float | None = None
    ) -> Verdict:
        """Evaluate the candidate whose files are at `checkout`; `name` labels its log file."""
        fingerprint = self.fingerprint
        refused = tampered(self.protected, checkout, phase, fingerprint)
        if refused is not None:
            return refused
        if phase == "final" and self.trusted.final_private is None:
            raise ValueError("this task has no final_private data")
        started = time.monotonic()
        log: list[str] = []
        if phase != "final" and self.spec.folds > 1:
            verdict = self._by_folds(checkout, phase, deadline, log, started)
            return self._logged(verdict, name, phase, log, fingerprint)
        public = self._public(phase)
        refit = public != self.trusted.public
        first = deadline
        if refit and deadline is not None:  # leave the run as selected time to follow a failed refit
            first = time.time() + REFIT_SHARE * max(0.0, deadline - time.time())
        with scratch(self.scratch_dir) as place:
            verdict = self._stages(checkout, place, phase, first, log, started, public)
            answers_read = place.final_private.exists()
        if refit and verdict.status is not Status.OK and not answers_read:
            log.append(
                f"# the run on the final phase's public data failed ({verdict.reason}); "
                "running it again on the public data it was selected with\n"
            )
            with scratch(self.scratch_dir) as place:
                verdict = self._stages(
                    checkout, place, phase, deadline, log, started, self._selected_public()
                )
        return self._logged(verdict, name, phase, log, fingerprint)

    def _selected_public(self) -> Path | None:
        """Public data the candidate was selected with, whole: with folds, the first fold's."""
        if self.spec.folds > 1 and self.trusted.public is not None:
            return self.trusted.public / "fold-0"
        return self.trusted.public

    def _logged(self, verdict: Verdict, name: str, phase: str, log: list[str], fingerprint: str) -> Verdict:
        log_path, log_digest = write_log(self.log_dir, name, phase, "".join(log))
        verdict.phase = phase
        verdict.fingerprint = fingerprint
        verdict.log_path = str(log_path)
        verdict.log_digest = log_digest
        return verdict

    def _by_folds(
        self, checkout: Path, phase: str, deadline: float | None, log: list[str], started: float
    ) -> Verdict:
        """Both stages once per fold, each on a fresh copy and its fold's data; the metrics' means.

        The first fold that does not end `ok` is the verdict (its reason says which fold). The
        public and private roots hold one folder per fold (`fold-0`, ...).
        """
        assert self.trusted.public is not None and self.trusted.private is not None
        folds = self.spec.folds
        scores: list[dict[str, float]] = []
        cpu, peak = 0.0, 0
        verdict = Verdict(status=Status.OK)
        for k in range(folds):
            log.append(f"# fold {k + 1} of {folds}\n")
            public, private = self.trusted.public / f"fold-{k}", self.trusted.private / f"fold-{k}"
            with scratch(self.scratch_dir) as place:
                verdict = self._stages(checkout, place, phase, deadline, log, started, public, private)
            cpu += verdict.cpu_time
            peak = max(peak, verdict.peak_memory or 0)
            if verdict.status is not Status.OK:
                verdict.reason = f"fold {k + 1} of {folds}: {verdict.reason}"[:300]
                break
            scores.append(verdict.metrics)
        verdict.cpu_time, verdict.peak_memory = round(cpu, 4), peak or None
        if verdict.status is Status.OK:
            verdict.metrics = fold_means(scores)
            values = ", ".join(f"{m.get(self.spec.metric, float('nan')):.6g}" for m in scores)
            line = f"{self.spec.metric} by fold: {values}; mean {verdict.metrics.get(self.spec.metric)}"
            log.append(f"# {line}\n")
            verdict.feedback = f"{verdict.feedback}\n{line}"
        return verdict

    def _public(self, phase: str) -> Path | None:
        """The public data of `phase`: the final phase's own where the task gives it."""
        if phase == "final" and self.trusted.final_public is not None:
            return self.trusted.final_public
        return self.trusted.public

    def _stages(
        self,
        checkout: Path,
        place: Scratch,
        phase: str,
        deadline: float | None,
        log: list[str],
        started: float,
        public: Path | None,
        private: Path | None = None,
    ) -> Verdict:
        """`private`: the validate phase's private data in place of the task's (a fold's)."""
        budget = Budgeted.of(self.spec.timeout, deadline)
        if budget.too_short:
            return not_started(phase, self.fingerprint)
        export_tree(checkout, place.work)
        place.outputs.mkdir(mode=0o755)
        held = self._hold_scorer(place, phase, budget, public, private)
        try:
            return self._run_then_score(place, phase, deadline, log, started, budget, held, public, private)
        finally:
            if held is not None:
                held.cancel()

    def _run_then_score(
        self,
        place: Scratch,
        phase: str,
        deadline: float | None,
        log: list[str],
        started: float,
        budget: Budgeted,
        held: HeldRun | None,
        public: Path | None,
        private: Path | None,
    ) -> Verdict:
        run_env = {**self.spec.env, OUTPUTS_VAR: str(place.outputs)}
        binds = [Bind(place.outputs, writable=True)]
        if public is not None:
            run_env[PUBLIC_VAR] = str(public)
            binds.append(Bind(public))
        assert self.spec.run is not None
        ran = self._sandboxed(
            self.spec.run,
            place.work,
            budget,
            run_env,
            binds,
            self.protected.paths_in(place.work),
            self.sandbox,
        )
        if isinstance(ran, Verdict):
            return ran
        log.append(log_text("run", self.spec.run, ran))
        verdict = failed_run(ran, budget, "candidate's run stage")
        if verdict is not None:
            return finish_verdict(verdict, ran, started)
        feedback = ran.tail(FEEDBACK_CHARS)
        try:
            sealed = seal_outputs(place.outputs, place.sealed, self.spec.outputs_limit)
        except SealError as error:
            verdict = Verdict(status=Status.BUGGY, reason=str(error), feedback=f"{feedback}\n{error}")
            return finish_verdict(verdict, ran, started)
        log.append(f"# sealed {sealed.files} entries, {sealed.bytes} bytes of outputs\n")
        scored = self._score(place, phase, deadline, log, held, public, private)
        if isinstance(scored, Verdict):
            scored.feedback = feedback
            return finish_verdict(scored, ran, started)
        scorer_run, score_budget = scored
        verdict = self._judge_score(scorer_run, score_budget, place, feedback)
        verdict.cpu_time = scorer_run.cpu_time
        return finish_verdict(verdict, ran, started)

    def _scorer_inputs(
        self, place: Scratch, phase: str, public: Path | None, private: Path | None = None
    ) -> tuple[dict[str, str], list[Bind]]:
        """The scorer's copy, environment and binds; the sealed outputs' folder made for them."""
        readable_copy(self.trusted.scorer, place.scorer)
        place.sealed.mkdir(mode=0o755, exist_ok=True)
        env = {**self.spec.env, OUTPUTS_VAR: str(place.sealed), "STROP_PHASE": phase}
        binds = [Bind(place.sealed)]
        private = private or self._private(place, phase)
        if private is not None:
            env[PRIVATE_VAR] = str(private)
            binds.append(Bind(private))
        if public is not None:
            env[PUBLIC_VAR] = str(public)
            binds.append(Bind(public))
        return env, binds

    def _hold_scorer(
        self, place: Scratch, phase: str, run_budget: Budgeted, public: Path | None, private: Path | None
    ) -> HeldRun | None:
        """The scorer's sandbox started now and held (see `evaluators.held`), where that is allowed."""
        if phase == "final" or not can_hold(self.scorer_sandbox):
            return None
        assert self.spec.score is not None
        env, binds = self._scorer_inputs(place, phase, public, private)
        limits = self._limits(self.spec.scorer_timeout)
        max_wait = run_budget.seconds + HOLD_SLACK
        return HeldRun(
            self.scorer_sandbox, command_argv(self.spec.score), place.scorer, limits, env, binds, max_wait
        )

    def _score(
        self,
        place: Scratch,
        phase: str,
        deadline: float | None,
        log: list[str],
        held: HeldRun | None,
        public: Path | None,
        private: Path | None,
    ) -> tuple[Execution, Budgeted] | Verdict:
        budget = Budgeted.of(self.spec.scorer_timeout, deadline)
        if budget.too_short:
            return not_started(phase, self.fingerprint)
        assert self.spec.score is not None
        scored = self._open_held(held, budget) if held is not None else None
        if scored is None:
            # Not held, or the held sandbox gave up waiting: start afresh with the same inputs.
            env, binds = (
                (held.env, held.binds)
                if held is not None
                else self._scorer_inputs(place, phase, public, private)
            )
            scored = self._sandboxed(
                self.spec.score, place.scorer, budget, env, binds, [], self.scorer_sandbox
            )
        if isinstance(scored, Verdict):
            return scored
        log.append(log_text("score", self.spec.score, scored))
        return scored, budget

    def _open_held(self, held: HeldRun, budget: Budgeted) -> Execution | Verdict | None:
        try:
            return held.open(budget.seconds)
        except SandboxError as error:
            return Verdict(status=Status.BUGGY, reason=f"sandbox failed: {error}")

    def _private(self, place: Scratch, phase: str) -> Path | None:
        if phase != "final":
            return self.trusted.private
        assert self.trusted.final_private is not None
        readable_copy(self.trusted.final_private, place.final_private)
        return place.final_private

    def _judge_score(self, execution: Execution, budget: Budgeted, place: Scratch, feedback: str) -> Verdict:
        failed = failed_run(execution, budget, "scorer")
        if failed is not None:
            last = first_line(execution.stderr) or first_line(execution.stdout)
            if failed.status is Status.TIMEOUT:  # a scorer that hangs has not refused anything
                failed.reason = f"{failed.reason} while scoring these outputs"[:300]
            else:
                failed.reason = f"the scorer did not accept the outputs: {last or failed.reason}"[:300]
            failed.feedback = f"{feedback}\n--- scorer ---\n{last}"
            return failed
        try:
            metrics = read_metrics(self.spec, execution, place.scorer)
        except MetricsError as error:
            return Verdict(status=Status.BUGGY, reason=f"scorer: {error}", feedback=feedback)
        return Verdict(status=Status.OK, metrics=metrics, feedback=feedback)

    def _sandboxed(
        self,
        command: str,
        workdir: Path,
        budget: Budgeted,
        env: dict[str, str],
        binds: list[Bind],
        readonly: list[Path],
        box: Sandbox,
    ) -> Execution | Verdict:
        try:
            return box.run(
                command_argv(command),
                workdir,
                self._limits(budget.seconds),
                env=env,
                readonly_paths=readonly,
                binds=binds,
            )
        except SandboxError as error:
            return Verdict(status=Status.BUGGY, reason=f"sandbox failed: {error}")


def fold_means(scores: list[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the folds that reported it; a metric some fold lacks is left out."""
    keys = set(scores[0]).intersection(*scores[1:]) if scores else set()
    return {key: sum(score[key] for score in scores) / len(scores) for key in sorted(keys)}
