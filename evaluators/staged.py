"""The two-stage evaluator: the candidate's code makes artifacts, the trusted scorer scores them.

Stage `run` executes the task's `run` command on a throwaway export of the
candidate (no `.git`), in the sandbox, with the public data read-only and an
empty outputs folder writable; it is never told the phase. It is told its time
limit (`STROP_RUN_SECONDS`: the timeout, or less where the run's deadline cuts it,
as it does a late selection run too), so that a candidate can decline work it
cannot finish in time instead of being killed at the end of it. When every process of
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

Kept outputs: a task with a final phase keeps, in the run's folder (`kept/`, never bound
into a sandbox), the sealed outputs of its best selection runs (`evaluators.outputs.KeptStore`:
the three best by the metric, each at most 128 MiB; with folds, the first fold's run). When
the final phase's own run gives no verdict before the scorer starts, or is not worth starting
(less time is left than half the same candidate's selection run took), the outputs that the chosen
candidate's selection run made (matched by a digest of its files, checked file by file on the
copy the scorer reads) are graded instead of running it again, within time kept for that; a
rerun as selected is left for when there are none. The private answers are still read once:
the first scorer that starts gives the phase's verdict. `graded` says, in words, which outputs
were graded; the run loop writes it into the chosen experiment's record. Only an evaluator
that can reach the final private data keeps outputs: the final phase runs on the driver, and
a remote worker (`agent.executors.remote`) elsewhere keeps nothing, so a run whose selection
ran there falls back to the rerun as before.

With `folds` (see `evaluators.spec`), the validate phase runs both stages once per fold, each
time on a fresh export and scratch folder, with that fold's public and private folders alone;
the verdict's metrics are the folds' means, and the first fold that fails is the verdict.

Only the scorer's last line of error output is shown to the proposer (a
traceback would show the scorer's source).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from evaluators.command import (
    FEEDBACK_CHARS,
    NOT_FOUND,
    NOT_FOUND_HINT,
    Budgeted,
    clear_metrics_file,
    command_argv,
    failed_run,
    finish_verdict,
    first_line,
    judged,
    killed_reason,
    log_text,
    not_started,
    start_final_log,
    tampered,
    write_log,
)
from evaluators.held import HeldRun
from evaluators.integrity import ProtectedFiles
from evaluators.metrics_output import MetricsError, last_json_object
from evaluators.outputs import KeptOutputs, KeptStore, Sealed, SealError, seal_outputs
from evaluators.run_stats import FILE as RUN_STATS_FILE
from evaluators.run_stats import RUN_STATS_VAR, Figures, figures, write_kept_stats, write_run_stats
from evaluators.scratch import (
    SCRATCH,
    Scratch,
    export_tree,
    readable_copy,
    reap,
    remove_tree,
    scratch,
    tree_digest,
    without_host_paths,
)
from evaluators.spec import EvaluatorSpec
from evaluators.trusted import TrustedFiles
from evaluators.verdict import Status, Verdict
from sandbox.execution import Bind, Execution, KilledBy, Limits, Sandbox, SandboxError
from sandbox.gate import can_hold

OUTPUTS_VAR = "STROP_OUTPUTS"
PRIVATE_VAR = "STROP_PRIVATE"
PUBLIC_VAR = "STROP_PUBLIC"
SECONDS_VAR = "STROP_RUN_SECONDS"
"""Stage `run`'s time limit in seconds (its timeout, or what the run's deadline leaves), told to it."""
HOLD_SLACK = 60.0
"""Seconds a held scorer waits past the candidate's stage budget (sealing its outputs) before giving up."""
REFIT_SHARE = 0.6
"""The share of the final phase's time a run on `final_public` may take (the rest is for a second run)."""
HOPELESS = 0.5
"""With kept outputs, a final run is not started with less time than this share of the selection
run's: a refit on more rows takes longer than that run did, and a run's time varies about
twofold with the machine's load (one that is cut costs only time the budget keeps anyway)."""
KEPT = "kept"
"""The folder, in the run's, of the selection outputs kept for the final phase (`KeptStore`)."""
GRADE_SLACK = 5.0
"""Seconds, beyond twice the selection's own scoring, kept for grading kept outputs in the final phase."""
GRADE_FLOOR = 1.0
"""Seconds beyond twice the selection's scoring that grading kept outputs keeps however short the phase."""
GRADED = "final phase graded"
"""How `graded` begins: the final phase's words on which outputs it graded, for the run's record."""


@dataclass
class Keeping:
    """A selection evaluation's copy of its sealed outputs, waiting for its verdict."""

    folder: Path
    code: str  # `tree_digest` of the candidate's files
    copied: Sealed | None = None
    run_seconds: float = 0.0
    score_seconds: float = 0.0
    run_stats: Figures | None = None  # what strop measured of the run that made them, for `$STROP_RUN_STATS`


def _experiment(name: str) -> str:
    """`3` -> `experiment 3`, `3-t2` -> `experiment 3 (turn 2)`: a log name in words."""
    head, _, turn = name.partition("-t")
    return f"experiment {head}" + (f" (turn {turn})" if turn.isdigit() else "")


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
        final = trusted.final_private
        # where the final phase can run (a remote worker is sent no path to the final answers)
        self.kept = (
            KeptStore(work_dir / KEPT, spec.direction) if final is not None and final.exists() else None
        )
        if self.kept is not None:
            reap(self.kept.pending)
        self.graded = ""
        """After a final phase: which outputs it graded, in words (`GRADED`...), for the run's record."""

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
        if phase == "final":
            # on disk before the final private data is copied out for a scorer (`start_final_log`):
            # a reading whose process is killed mid-way is still counted by `strop audit`
            claimed = start_final_log(self.log_dir, name)
            verdict = self._final(checkout, deadline, log, started)
            log.append(f"# {self.graded}\n")
            if self.kept is not None:  # a run's final verdict is final: its fallbacks are spent
                self.kept.clear()
            return self._logged(verdict, name, phase, log, fingerprint, claimed)
        with self._keeping(checkout) as keeping:
            if self.spec.folds > 1:
                verdict = self._by_folds(checkout, phase, deadline, log, started, keeping)
            else:
                with scratch(self.scratch_dir) as place:
                    public = self.trusted.public
                    verdict = self._stages(
                        checkout, place, phase, deadline, log, started, public, keep=keeping
                    )
            self._keep(keeping, name, fingerprint, verdict, log)
        return self._logged(verdict, name, phase, log, fingerprint)

    def _final(self, checkout: Path, deadline: float | None, log: list[str], started: float) -> Verdict:
        """The final phase: one run on its public data, or else the kept selection outputs, or else a rerun.

        The chosen candidate runs on the final phase's public data (a refit where the task gives
        `final_public`). When that gives no verdict before the scorer starts (it failed, or the
        deadline cut it or left it too little time to start), the outputs that the same candidate's
        selection run sealed are graded instead (see `KeptStore`), in time kept for that from the
        start; only without them (or when they cannot be used) does it run again from scratch on
        the public data it was selected with. The private answers are read at most once: once a
        scorer has started, its verdict is the phase's. `graded` then says which outputs it was.
        """
        self.graded = ""
        public = self._public("final")
        refit = public != self.trusted.public
        what = "the refit on the final phase's public data" if refit else "the final run"
        kept = self.kept.find(tree_digest(checkout), self.fingerprint) if self.kept is not None else None
        first = deadline
        if deadline is not None and kept is not None:  # time to grade the kept outputs follows the run
            first = deadline - self._grading_seconds(kept, deadline - time.time())
        elif deadline is not None and refit:  # time to run as selected follows a failed refit
            first = time.time() + REFIT_SHARE * max(0.0, deadline - time.time())
        answers_read = False
        if kept is not None and first is not None and first - time.time() < HOPELESS * kept.run_seconds:
            left = max(0.0, first - time.time())
            verdict = Verdict(
                status=Status.STOPPED,
                reason=f"not started: {left:.1f}s left for it, and its selection run took {kept.run_seconds:.1f}s",
            )
            log.append(f"# {what}: {verdict.reason}\n")
        else:
            with scratch(self.scratch_dir) as place:
                verdict = self._stages(
                    checkout, place, "final", first, log, started, public, score_by=deadline
                )
                answers_read = place.final_private.exists()
        if verdict.status is Status.OK or answers_read:
            self.graded = (
                f"{GRADED}: {what}"
                if verdict.status is Status.OK
                else f"{GRADED}: no score ({verdict.reason})"
            )
            return verdict
        why = verdict.reason
        if kept is not None:
            log.append(f"# {what} gave no verdict ({why}); grading the outputs its selection run sealed\n")
            with scratch(self.scratch_dir) as place:
                verdict = self._grade_kept(kept, place, deadline, log, started)
                answers_read = place.final_private.exists()
            if verdict.status is Status.OK or answers_read:
                fold = f", fold 1 of {self.spec.folds}" if kept.fold is not None else ""
                said = (
                    f"the outputs of {_experiment(kept.name)}'s selection run (on the selection's public "
                    f"data{fold}; kept by strop), not {what}: {why}"
                )
                self.graded = (
                    f"{GRADED}: {said}"
                    if verdict.status is Status.OK
                    else f"{GRADED}: no score ({verdict.reason})"
                )
                return verdict
            why = f"{why}; the kept outputs: {verdict.reason}"
        if not refit:
            self.graded = f"{GRADED}: no score ({why})"
            return verdict
        log.append(
            f"# the run on the final phase's public data failed ({why}); "
            "running it again on the public data it was selected with\n"
        )
        with scratch(self.scratch_dir) as place:
            verdict = self._stages(checkout, place, "final", deadline, log, started, self._selected_public())
        if verdict.status is Status.OK:
            self.graded = f"{GRADED}: a new run on the selection's public data, not {what}: {why}"
        else:
            self.graded = f"{GRADED}: no score ({verdict.reason})"
        return verdict

    def _grading_seconds(self, kept: KeptOutputs, left: float) -> float:
        """Time kept for grading kept outputs: twice their selection scoring plus `GRADE_SLACK`, at most
        the scorer's timeout (the final scorer starts a fresh sandbox; selection's was often held).

        With little time `left` (a short `--time`: the search keeps at most a third of the budget
        for the final phase) it is at most `1 - REFIT_SHARE` of it, never under twice the scoring
        plus `GRADE_FLOOR`: a fixed 5 s out of a 4 s final phase left the refit nothing, so it was
        never started however much time the search had left it.
        """
        need = 2.0 * kept.score_seconds
        short = max(need + GRADE_FLOOR, (1.0 - REFIT_SHARE) * left)
        return min(float(self.spec.scorer_timeout), need + GRADE_SLACK, short)

    def _grade_kept(
        self, kept: KeptOutputs, place: Scratch, deadline: float | None, log: list[str], started: float
    ) -> Verdict:
        """Stage `score` of the final phase on kept outputs, copied and checked into a fresh sealed folder."""
        assert self.kept is not None
        try:
            restored = self.kept.restore(kept, place.sealed)
        except (SealError, OSError) as error:
            return Verdict(status=Status.BUGGY, reason=f"not usable: {error}"[:300])
        log.append(
            f"# graded the outputs kept from {_experiment(kept.name)}'s selection run: "
            f"{len(kept.files)} files, {restored.bytes} bytes\n"
        )
        place.measured.mkdir(mode=0o755, exist_ok=True)  # the figures of the run that made them
        write_kept_stats(place.measured, kept.run_stats, f"{_experiment(kept.name)}'s selection run")
        scored = self._score(place, "final", deadline, log, None, self._selected_public(), None)
        if isinstance(scored, Verdict):
            return scored
        scorer_run, score_budget = scored
        verdict = self._judge_score(scorer_run, score_budget, place, "", log)
        return finish_verdict(verdict, scorer_run, started)

    @contextlib.contextmanager
    def _keeping(self, checkout: Path) -> Iterator[Keeping | None]:
        """Where a selection evaluation copies its sealed outputs for `KeptStore` (None: not kept)."""
        if self.kept is None:
            yield None
            return
        self.kept.pending.mkdir(parents=True, exist_ok=True)
        keeping = Keeping(self.kept.pending / f"{os.getpid()}-{secrets.token_hex(6)}", tree_digest(checkout))
        try:
            yield keeping
        finally:
            remove_tree(keeping.folder)

    def _keep(
        self, keeping: Keeping | None, name: str, fingerprint: str, verdict: Verdict, log: list[str]
    ) -> None:
        """Keep a scored selection run's copied outputs (best effort: never the verdict's business)."""
        if self.kept is None or keeping is None or keeping.copied is None or verdict.status is not Status.OK:
            return
        value = verdict.metrics.get(self.spec.metric)
        if value is None or not math.isfinite(value):
            return
        entry = KeptOutputs(
            folder=keeping.folder,
            name=name,
            code=keeping.code,
            fingerprint=fingerprint,
            metric=value,
            order=time.time(),
            run_seconds=round(keeping.run_seconds, 3),
            score_seconds=round(keeping.score_seconds, 3),
            fold=0 if self.spec.folds > 1 else None,
            files={},
            run_stats=keeping.run_stats,
        )
        try:
            self.kept.add(keeping.folder, entry)
        except OSError as error:
            log.append(f"# the outputs were not kept for the final phase: {error}\n")

    def _selected_public(self) -> Path | None:
        """Public data the candidate was selected with, whole: with folds, the first fold's."""
        if self.spec.folds > 1 and self.trusted.public is not None:
            return self.trusted.public / "fold-0"
        return self.trusted.public

    def _logged(
        self,
        verdict: Verdict,
        name: str,
        phase: str,
        log: list[str],
        fingerprint: str,
        claimed: Path | None = None,
    ) -> Verdict:
        log_path, log_digest = write_log(self.log_dir, name, phase, "".join(log), claimed)
        named = {
            "public": self.trusted.public,
            "final-public": self.trusted.final_public,
            "private": self.trusted.private,
            "final-private": self.trusted.final_private,
            "scorer": self.trusted.scorer,
        }
        verdict.reason = without_host_paths(verdict.reason, self.scratch_dir, named)
        verdict.feedback = without_host_paths(verdict.feedback, self.scratch_dir, named)
        verdict.phase = phase
        verdict.fingerprint = fingerprint
        verdict.log_path = str(log_path)
        verdict.log_digest = log_digest
        return verdict

    def _by_folds(
        self,
        checkout: Path,
        phase: str,
        deadline: float | None,
        log: list[str],
        started: float,
        keeping: Keeping | None = None,
    ) -> Verdict:
        """Both stages once per fold, each on a fresh copy and its fold's data; the metrics' means.

        The first fold that does not end `ok` is the verdict (its reason says which fold). The
        public and private roots hold one folder per fold (`fold-0`, ...). The first fold's
        outputs are the ones kept for the final phase (`keeping`): its public data is the one a
        rerun as selected reads too (`_selected_public`), and averaging the folds' predictions
        would need to know what they are (labels cannot be averaged).
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
                keep = keeping if k == 0 else None
                verdict = self._stages(checkout, place, phase, deadline, log, started, public, private, keep)
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
        keep: Keeping | None = None,
        score_by: float | None = None,
    ) -> Verdict:
        """`private`: the validate phase's private data in place of the task's (a fold's); `keep`:
        where scored outputs are copied for `KeptStore`; `score_by`: a later deadline for stage
        `score` (the final phase's: a run that finished in its share is scored in the time kept
        for its fallback, which it no longer needs)."""
        budget = Budgeted.of(self.spec.timeout, deadline)
        if budget.too_short:
            return not_started(phase, self.fingerprint)
        export_tree(checkout, place.work)
        place.outputs.mkdir(mode=0o755)
        held = self._hold_scorer(place, phase, budget, public, private)
        try:
            return self._run_then_score(
                place, phase, deadline, log, started, budget, held, public, private, keep, score_by
            )
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
        keep: Keeping | None = None,
        score_by: float | None = None,
    ) -> Verdict:
        run_env = {**self.spec.env, OUTPUTS_VAR: str(place.outputs), SECONDS_VAR: f"{budget.seconds:.1f}"}
        binds = [Bind(place.outputs, writable=True), *self.spec.mount_binds()]
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
        place.measured.mkdir(mode=0o755, exist_ok=True)  # made with the scorer's inputs when it is held
        write_run_stats(place.measured, ran)
        scored = self._score(place, phase, score_by or deadline, log, held, public, private)
        if isinstance(scored, Verdict):
            scored.feedback = feedback
            return finish_verdict(scored, ran, started)
        scorer_run, score_budget = scored
        verdict = self._judge_score(scorer_run, score_budget, place, feedback, log)
        verdict.cpu_time = scorer_run.cpu_time
        if keep is not None and self.kept is not None and verdict.status is Status.OK:
            keep.copied = self.kept.copy(place.sealed, keep.folder)
            keep.run_seconds, keep.score_seconds = ran.wall_time, scorer_run.wall_time
            keep.run_stats = figures(ran)
        return finish_verdict(verdict, ran, started)

    def _scorer_inputs(
        self, place: Scratch, phase: str, public: Path | None, private: Path | None = None
    ) -> tuple[dict[str, str], list[Bind]]:
        """The scorer's copy, environment and binds; the sealed outputs' folder made for them."""
        readable_copy(self.trusted.scorer, place.scorer)
        clear_metrics_file(self.spec, place.scorer)
        place.sealed.mkdir(mode=0o755, exist_ok=True)
        place.measured.mkdir(mode=0o755, exist_ok=True)
        env = {
            **self.spec.env,
            OUTPUTS_VAR: str(place.sealed),
            "STROP_PHASE": phase,
            RUN_STATS_VAR: str(place.measured / RUN_STATS_FILE),
        }
        binds = [Bind(place.sealed), Bind(place.measured), *self.spec.mount_binds()]
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

    def _judge_score(
        self, execution: Execution, budget: Budgeted, place: Scratch, feedback: str, log: list[str]
    ) -> Verdict:
        failed = failed_run(execution, budget, "scorer")
        if failed is not None:
            last = first_line(execution.stderr) or first_line(execution.stdout)
            # a scorer the sandbox ended (time, memory, output) has not refused anything
            if execution.killed_by is KilledBy.TIMEOUT:
                failed.reason = f"{failed.reason} while scoring these outputs"[:300]
            elif execution.killed_by is not None:
                failed.reason = killed_reason("scorer", execution.killed_by, " while scoring these outputs")
            elif "Traceback (most recent call last)" in execution.stderr:  # an exception, not a refusal
                failed.reason = (
                    f"the scorer crashed on these outputs ({last}): a bug in the scorer, or outputs it "
                    "does not expect"
                )[:300]
            else:
                last = _without_gate(last)
                failed.reason = _scorer_exited(execution, last, self.spec.metric) or failed.reason
            failed.feedback = f"{feedback}\n--- scorer ---\n{last}"
            return failed
        verdict, logged = judged(self.spec, execution, place.scorer)
        log.append(logged)
        if verdict.status is not Status.OK:
            verdict.reason = f"scorer: {verdict.reason}"
        verdict.feedback = feedback
        return verdict

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


_GATE = re.compile(r"strop-gate: (?:line )?\d+: (?:exec: )?")
"""How the shell of a held scorer's door (`sandbox.gate`) prefixes its errors: an internal name."""


def _without_gate(line: str) -> str:
    """`line` without the held scorer's shell prefix (`strop-gate: 1: exec: nosuchscorer: not found`)."""
    return _GATE.sub("", line, count=1) if line.startswith("strop-gate: ") else line


def _scorer_exited(execution: Execution, last: str, metric: str) -> str:
    """Why a scorer that exited non-zero gave no score, in words; "" to keep `failed_run`'s.

    A missing command (exit 127) is not a judgement of the outputs, nor is a score printed
    before a failing exit: only a scorer that printed no score and said why refused them.
    """
    status = execution.exit_code
    if status == NOT_FOUND:  # the run stage's words (`failed_run`), its hint whole
        hint = NOT_FOUND_HINT if execution.backend not in ("", "local") else "127 is a shell's 'not found'"
        said = f": {last[:80]}" if last else ""
        return f"the scorer exited with status 127{said} ({hint}; the command is [evaluator] score)"
    try:
        printed = last_json_object(execution.stdout, metric)
    except MetricsError:
        printed = None
    if printed is not None:
        shown = json.dumps(printed)  # ASCII: non-ASCII and control characters escaped
        shown = shown if len(shown) <= 80 else shown[:79] + "…"
        return (
            f"the scorer exited with status {status} after printing {shown}: a score counts only from a "
            "scorer that exits 0"
        )[:300]
    if not last:
        return ""
    return f"the scorer did not accept the outputs (it exited with status {status}): {last}"[:300]


def fold_means(scores: list[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the folds that reported it; a metric some fold lacks is left out."""
    keys = set(scores[0]).intersection(*scores[1:]) if scores else set()
    return {key: sum(score[key] for score in scores) / len(scores) for key in sorted(keys)}
