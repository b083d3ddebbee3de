"""What a Ray worker runs: one candidate's evaluation, from bytes in to verdict out.

Nothing here imports Ray, so it is tested on its own. The driver sends:

- an `EvaluatorBundle` once per run: the evaluator spec and a tar of the run's
  pristine evaluator files (the protected files' snapshot and, for two-stage tasks,
  the trusted scorer with its public and private validate data) with their
  fingerprint. A worker process unpacks it once, into its own temporary folder, and
  builds the same evaluator the driver would, over the worker node's own sandbox
  backends (`auto` picks the strongest that works *there*);
- a `RemoteJob` per evaluation: the candidate's tree as tar bytes (no `.git`: the
  worker never sees a repository), the log name, the phase, and the seconds left.

The worker returns a `RemoteResult`: the verdict (with the same limits applied, the
same tamper check, the same two stages) and the log text, which the driver writes
into the run's log folder. The hidden-test (`final`) phase never ships: its private
data stays on the driver.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import socket
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluators.verdict import Verdict

_EVALUATORS: dict[str, Any] = {}  # fingerprint -> evaluator, per worker process


@dataclass(frozen=True)
class EvaluatorBundle:
    """The run's evaluator as data: its spec, its pristine files (tar) and their fingerprint."""

    spec: dict[str, Any]
    fingerprint: str
    files: bytes
    two_stage: bool


@dataclass(frozen=True)
class RemoteJob:
    name: str
    tree: bytes
    phase: str = "validate"
    seconds_left: float | None = None


@dataclass(frozen=True)
class RemoteResult:
    verdict: dict[str, Any]
    log: str = ""
    node: str = ""
    pid: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def pack_tree(root: Path, skip: tuple[Path, ...] = ()) -> bytes:
    """`root`'s files as tar bytes, symlinks as symlinks, without the top-level `.git` or `skip`."""
    buffer = io.BytesIO()
    skipped = {path.resolve() for path in skip}

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        top = info.name.split("/", 1)[0]
        if top == ".git" or (root / info.name).resolve() in skipped:
            return None
        return info

    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for entry in sorted(os.listdir(root)):
            archive.add(root / entry, arcname=entry, recursive=True, filter=keep)
    return buffer.getvalue()


def unpack_tree(data: bytes, target: Path) -> None:
    """Unpack tar bytes made by `pack_tree` into `target` (no member may leave it)."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
        archive.extractall(target, filter="tar")


def bundle_for(evaluator: Any) -> EvaluatorBundle:
    """Pack a driver-side evaluator (`StagedEvaluator` or `CommandEvaluator`) for the workers."""
    folder = Path(tempfile.mkdtemp(prefix="strop-bundle-"))
    try:
        protected = evaluator.protected.store
        trusted = getattr(evaluator, "trusted", None)
        shutil.copytree(protected, folder / "protected", symlinks=True, ignore=_skip(trusted))
        if trusted is not None:
            shutil.copytree(trusted.store, folder / "trusted", symlinks=True)
        files = pack_tree(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return EvaluatorBundle(
        spec=evaluator.spec.model_dump(mode="json"),
        fingerprint=evaluator.fingerprint,
        files=files,
        two_stage=trusted is not None,
    )


def _skip(trusted: Any) -> Any:
    """copytree's ignore: leave out the trusted store when it sits inside the protected one."""
    if trusted is None:
        return None
    inner = Path(trusted.store).resolve()

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [name for name in names if (Path(folder) / name).resolve() == inner]

    return ignore


def evaluator_from(bundle: EvaluatorBundle) -> Any:
    """The evaluator a bundle describes, built once per worker process over this node's sandboxes."""
    cached = _EVALUATORS.get(bundle.fingerprint)
    if cached is not None:
        return cached
    from evaluators.command import CommandEvaluator
    from evaluators.integrity import ProtectedFiles
    from evaluators.spec import EvaluatorSpec
    from evaluators.staged import StagedEvaluator
    from evaluators.trusted import TrustedFiles
    from sandbox import open_sandbox

    home = Path(tempfile.mkdtemp(prefix=f"strop-worker-{bundle.fingerprint[:12]}-"))
    atexit.register(shutil.rmtree, home, True)  # the private data goes with the worker process
    unpack_tree(bundle.files, home / "bundle")
    spec = EvaluatorSpec.model_validate(bundle.spec)
    protected = ProtectedFiles.load(home / "bundle" / "protected")
    if protected is None:
        raise RuntimeError("the evaluator bundle has no protected-files manifest")
    sandbox = open_sandbox(spec.sandbox)
    evaluator: Any
    if bundle.two_stage:
        from sandbox.backends import open_scorer_sandbox

        trusted = TrustedFiles.load(home / "bundle" / "trusted")
        if trusted is None:
            raise RuntimeError("the evaluator bundle has no trusted-files manifest")
        scorer = open_scorer_sandbox(spec.score_sandbox, sandbox)
        evaluator = StagedEvaluator(spec, protected, trusted, sandbox, home / "logs", home, scorer)
    else:
        evaluator = CommandEvaluator(spec, protected, sandbox, home / "logs", home)
    if evaluator.fingerprint != bundle.fingerprint:
        raise RuntimeError("the evaluator files changed in transit (fingerprint mismatch)")
    _EVALUATORS[bundle.fingerprint] = evaluator
    return evaluator


def evaluate_job(bundle: EvaluatorBundle, job: RemoteJob) -> RemoteResult:
    """Run one evaluation on this worker: unpack the tree, judge it, return verdict and log."""
    started = time.monotonic()
    evaluator = evaluator_from(bundle)
    deadline = time.time() + job.seconds_left if job.seconds_left is not None else None
    with tempfile.TemporaryDirectory(prefix="strop-tree-") as folder:
        checkout = Path(folder) / "tree"
        unpack_tree(job.tree, checkout)
        verdict: Verdict = evaluator.evaluate(checkout, name=job.name, phase=job.phase, deadline=deadline)
    log = ""
    if verdict.log_path:
        path = Path(verdict.log_path)
        log = path.read_text(errors="replace")
        path.unlink(missing_ok=True)
    return RemoteResult(
        verdict=verdict.to_dict(),
        log=log,
        node=socket.gethostname(),
        pid=os.getpid(),
        seconds=time.monotonic() - started,
    )


def evaluate_genome(domain: Any, genome: Any) -> tuple[str, Any, float, str]:
    """The evolution engine's unit of work on a worker: the same reply as a local pool worker's."""
    import traceback

    started = time.perf_counter()
    try:
        return ("ok", domain.evaluate(genome), time.perf_counter() - started, "")
    except Exception as error:  # noqa: BLE001 - a candidate's failure is data, not a crash
        summary = "".join(traceback.format_exception_only(type(error), error)).strip()
        return ("error", None, time.perf_counter() - started, summary[-500:])
