"""The command evaluator: run the task's evaluator in a sandbox on a candidate's checkout.

Order matters: integrity first (a tampered candidate is never run), then the
sandboxed command, then the metric read from the evaluator's own output. Every
failure becomes a `Verdict` with a one-line reason, never an exception.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from evaluators.integrity import ProtectedFiles
from evaluators.metrics_output import (
    MetricsError,
    last_json_object,
    parse_json_object,
    validate_metrics,
)
from evaluators.spec import EvaluatorSpec
from evaluators.verdict import Status, Verdict
from sandbox.execution import Execution, KilledBy, Limits, Sandbox, SandboxError

FEEDBACK_CHARS = 4000
METRICS_FILE_MAX = 1 << 20


def _first_line(text: str, limit: int = 200) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line[:limit]


class CommandEvaluator:
    """Judges candidates; never steers, never reads retrieved text."""

    def __init__(
        self, spec: EvaluatorSpec, protected: ProtectedFiles, sandbox: Sandbox, log_dir: Path
    ) -> None:
        self.spec = spec
        self.protected = protected
        self.sandbox = sandbox
        self.log_dir = log_dir

    def limits(self) -> Limits:
        return Limits(timeout=self.spec.timeout, memory=self.spec.memory, cpu_time=self.spec.cpu_time)

    def evaluate(self, checkout: Path, name: str, phase: str = "validate") -> Verdict:
        """Evaluate the candidate checked out at `checkout`; `name` labels its log file."""
        fingerprint = self.protected.fingerprint
        changed = self.protected.changes_in(checkout)
        if changed:
            shown = ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")
            return Verdict(
                status=Status.TAMPERED,
                reason=f"the candidate changed protected evaluator file(s): {shown}",
                feedback="Protected evaluator files must not be changed; the candidate was not evaluated.",
                phase=phase,
                fingerprint=fingerprint,
            )
        command = self.spec.final if phase == "final" else self.spec.command
        if not command:
            raise ValueError("this task has no final command")
        started = time.monotonic()
        try:
            execution = self.sandbox.run(
                ["/bin/sh", "-c", command],
                checkout,
                self.limits(),
                env={**self.spec.env, "STROP_PHASE": phase},
                readonly_paths=self.protected.paths_in(checkout),
            )
        except SandboxError as error:
            return Verdict(
                status=Status.BUGGY, reason=f"sandbox failed: {error}", phase=phase, fingerprint=fingerprint
            )
        log_path, log_digest = self._write_log(name, phase, command, execution)
        verdict = self._judge(execution, checkout)
        verdict.phase = phase
        verdict.fingerprint = fingerprint
        verdict.exit_code = execution.exit_code
        verdict.wall_time = round(time.monotonic() - started, 4)
        verdict.cpu_time = round(execution.cpu_time, 4)
        verdict.peak_memory = execution.peak_memory
        verdict.killed_by = execution.killed_by.value if execution.killed_by else None
        verdict.backend = execution.backend
        verdict.log_path = str(log_path)
        verdict.log_digest = log_digest
        return verdict

    def _judge(self, execution: Execution, checkout: Path) -> Verdict:
        feedback = execution.tail(FEEDBACK_CHARS)
        if execution.killed_by is KilledBy.TIMEOUT:
            reason = f"the evaluator ran past its {self.spec.timeout:g}s time limit and was killed"
            return Verdict(status=Status.TIMEOUT, reason=reason, feedback=feedback)
        if execution.killed_by is not None:
            return Verdict(
                status=Status.BUGGY, reason=f"killed ({execution.killed_by.value})", feedback=feedback
            )
        if execution.exit_code != 0:
            last = _first_line(execution.stderr) or _first_line(execution.stdout)
            reason = f"the evaluator exited with status {execution.exit_code}" + (f": {last}" if last else "")
            return Verdict(status=Status.BUGGY, reason=reason, feedback=feedback)
        try:
            raw = self._raw_metrics(execution, checkout)
            parsed = validate_metrics(raw, self.spec.metric)
        except MetricsError as error:
            return Verdict(status=Status.BUGGY, reason=str(error), feedback=feedback)
        return Verdict(status=Status.OK, metrics=parsed.metrics, feedback=feedback)

    def _raw_metrics(self, execution: Execution, checkout: Path) -> dict[str, object]:
        if not self.spec.metrics_file:
            return last_json_object(execution.stdout)
        from sandbox.artifacts import ArtifactError, read_artifact

        try:
            data = read_artifact(checkout, self.spec.metrics_file, METRICS_FILE_MAX)
        except ArtifactError as error:
            raise MetricsError(f"metrics file {self.spec.metrics_file!r}: {error}") from None
        return parse_json_object(
            data.decode("utf-8", errors="replace"), f"metrics file {self.spec.metrics_file!r}"
        )

    def _write_log(self, name: str, phase: str, command: str, execution: Execution) -> tuple[Path, str]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        path = self.log_dir / f"{name}-{phase}.log"
        text = (
            f"$ {command}\n# backend={execution.backend} exit={execution.exit_code} "
            f"killed_by={execution.killed_by} wall={execution.wall_time:.3f}s\n"
            f"--- stdout ---\n{execution.stdout}\n--- stderr ---\n{execution.stderr}\n"
        )
        data = text.encode()
        path.write_bytes(data)
        return path, hashlib.sha256(data).hexdigest()
