"""A small model on a real local server: does strop still make progress? (issue 17; issue 19's 5% check)

    python -m benchmarks.local_llm [--tasks digits-gbm,diabetes-pca] [--seeds 0,1,2]
        [--modes text,structured,params,evolve] [--experiments 8] [--model PATH] [--json OUT]

Starts llama-cpp-python's OpenAI-compatible server on 127.0.0.1 with SmolLM2-135M-Instruct
(Q4_1 GGUF, installed by `scripts/setup-local-llm.sh`; nothing is downloaded here), behind an
API key, and runs each bundled task through the real CLI (`strop run`, its own fresh
STROP_HOME, `[budget] experiments = N`, one turn per experiment, no knowledge store) in each
mode: the LLM proposer answering as free text (SEARCH/REPLACE), structured JSON edits, or
`[space]` values (params), and the offline `evolve` proposer with the same number of
experiments as the baseline. Per run it prints:

- evaluable: the share of proposals (experiments after 0) that reached the evaluator (not
  rejected before it), and ok: the share that scored;
- best against experiment 0 (the workspace as it is), and whether it beats it;
- seconds and tokens per experiment (tokens: prompt + completion, the estimated part marked);
- context overflows met, and experiments lost to one (rejected because of it);
- the bookkeeping check (issue 19): experiments recorded against the budget, strop's wall time
  (run record) against the wall time measured around the command, strop's calls and tokens
  against the server's own counts (requests served, from its access log; per request, its
  prompt's tokens and the tokens its generator produced, from a counting line the benchmark's
  wrapper of the server prints when a generation ends, for requests strop closed at its timeout
  too; beside them, what the server's perf log alone gives: prompts sized by each request's
  prefix-match line, generation only for requests that ran to their end), each within 5%;
- the key check: the API key appears nowhere in STROP_HOME (index, checkpoints, logs,
  transcripts), the experiment repo's git objects and notes, nor the server-side task files.

Baseline: the evolve proposer on the same task and seed, same experiment budget. Acceptance
(issue 17): in structured or params mode, ≥ 60% evaluable, the best beats experiment 0 on every
seed, no experiment lost to a context overflow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

TASKS = Path(__file__).resolve().parent / "tasks"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODES = ("text", "structured", "params", "evolve")


class BenchmarkError(Exception):
    """A missing prerequisite: printed as one line, exit 2."""


def find_model(given: str | None) -> Path:
    """The GGUF: --model, $STROP_LOCAL_GGUF, or $STROP_MODELS (default ~/.cache/strop/models)."""
    candidates = [given, os.environ.get("STROP_LOCAL_GGUF")]
    folder = Path(os.environ.get("STROP_MODELS") or Path.home() / ".cache" / "strop" / "models")
    candidates.append(str(folder / MODEL_FILE))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise BenchmarkError(f"no {MODEL_FILE}: run scripts/setup-local-llm.sh (or pass --model PATH)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# llama-cpp-python's server, with one line per request on stderr: its prompt's tokens and the tokens
# its generator produced (end-of-generation tokens aside), printed when the generator ends: also for a
# request the client closed, which prints no perf block (its generation is otherwise not in the log).
COUNTING_SERVER = """
import sys
import llama_cpp
from llama_cpp import llama
from llama_cpp.server.__main__ import main

original = llama.Llama.generate


def generate(self, prompt, *args, **kwargs):
    prompt = list(prompt)
    tokens = 0
    try:
        for token in original(self, prompt, *args, **kwargs):
            tokens += not llama_cpp.llama_vocab_is_eog(self._model.vocab, token)
            yield token
    finally:
        print(f"llama-request: prompt {len(prompt)}, generated {tokens}", file=sys.stderr, flush=True)


llama.Llama.generate = generate
sys.argv[0] = "llama_cpp.server"
main()
"""


@dataclass
class Server:
    """llama-cpp-python's server as a child process, its log in a file we read for its own counts."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path
    model: str = "smollm2-135m"

    @classmethod
    def start(cls, model: Path, key: str, n_ctx: int, folder: Path) -> Server:
        try:
            import llama_cpp.server  # noqa: F401
        except ImportError:
            raise BenchmarkError(
                "llama-cpp-python's server is not installed: pip install 'strop[local-llm]' "
                "(or scripts/setup-local-llm.sh)"
            ) from None
        port = free_port()
        log = folder / "server.log"
        command = [
            sys.executable, "-c", COUNTING_SERVER, "--model", str(model), "--model_alias", "smollm2-135m",
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--api_key", key,
        ]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        server = cls(process, f"http://127.0.0.1:{port}/v1", log)
        server.wait_ready(key)
        return server

    def wait_ready(self, key: str, seconds: float = 120.0) -> None:
        ends = time.monotonic() + seconds
        request = urllib.request.Request(
            f"{self.base_url}/models", headers={"Authorization": f"Bearer {key}"}
        )
        while time.monotonic() < ends:
            if self.process.poll() is not None:
                raise BenchmarkError(f"the server exited ({self.process.returncode}); see {self.log}")
            try:
                with urllib.request.urlopen(request, timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise BenchmarkError(f"the server did not answer within {seconds:.0f}s; see {self.log}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class ServerCounts:
    """What the server's own log says it did (llama-cpp-python, verbose)."""

    requests: int = 0  # chat completions served (access log lines)
    prompt_tokens: int = 0  # prompt tokens per request: reused from its cache + evaluated
    generated: int = 0  # tokens generated (its decode runs), in requests that ran to their end
    cut_off: int = 0  # requests the client closed (or a newer one interrupted): no perf block
    counted: int = (
        0  # requests with a counting line (COUNTING_SERVER): prompt and generation, closed ones too
    )
    counted_prompt: int = 0
    counted_generated: int = 0
    unsized: int = 0  # wholly cached prompts of unknown size (no earlier line sized the cache)


_POST = re.compile(r'"POST /v1/chat/completions HTTP/1\.1" \d+')
_HIT = re.compile(r"Llama\.generate: (\d+) prefix-match hit, remaining (\d+) prompt tokens to eval")
_CACHED = re.compile(r"Llama\.generate: full prompt already cached")
_COUNTED = re.compile(r"^llama-request: prompt (\d+), generated (\d+)")
_PROMPT_EVAL = re.compile(r"llama_perf_context_print: prompt eval time =.*?/\s*(\d+) tokens")
_EVAL = re.compile(r"llama_perf_context_print:\s+eval time =.*?/\s*(\d+) runs")


def server_counts(text: str) -> ServerCounts:
    """Counts from the server log text (one slice of it: the lines one run produced).

    A request's prompt is sized by its `prefix-match hit, remaining N` line (printed before
    any work, so a request the client later closed is sized too: the server evaluates the
    whole prompt before it first looks at the connection), else by its perf block
    (`prompt eval … / N tokens`, a request evaluated from scratch). A retry whose prompt is
    the server's whole cached state (`full prompt already cached`: the previous request was
    closed before its first generated token was evaluated) evaluates nothing; its prompt is
    that state, sized by the previous request's lines. Generated tokens are the perf block's
    decode runs (one per token; one fewer at a length stop). A request cut off
    (`disconnected`) prints no perf block: its prompt counts, its few generated tokens are not
    in the log, and it is counted in `cut_off`. The server works on one request at a time, so
    the work lines of two requests never interleave (a waiting request's access line may come
    before the previous one's `disconnected`).
    """
    counts = ServerCounts()
    sized = False  # the current request's prompt was counted from its Llama.generate line
    state: int | None = None  # tokens in the server's cache after the last request (None: unknown)
    for line in text.splitlines():
        if _POST.search(line):
            counts.requests += 1
        elif hit := _HIT.search(line):
            state = int(hit.group(1)) + int(hit.group(2))
            counts.prompt_tokens += state
            sized = True
        elif _CACHED.search(line):
            if state is None:
                counts.unsized += 1
            else:
                counts.prompt_tokens += state
            sized = True
        elif line.strip() == "disconnected":
            # closed after its prompt, before its generated tokens were evaluated, or a few after:
            # only the former can be followed by a wholly cached prompt (a chat prompt never ends
            # inside an answer), so the state stays the prompt for that case
            counts.cut_off += 1
            sized = False
        elif evaluated := _PROMPT_EVAL.search(line):
            if not sized:
                state = int(evaluated.group(1))
                counts.prompt_tokens += state
            sized = False
        elif counted := _COUNTED.search(line):
            counts.counted += 1
            counts.counted_prompt += int(counted.group(1))
            counts.counted_generated += int(counted.group(2))
        elif runs := _EVAL.search(line):
            counts.generated += int(runs.group(1))
            state = None if state is None else state + int(runs.group(1))
    return counts


@dataclass
class RunResult:
    task: str
    mode: str
    seed: int
    experiments: int
    proposals: int
    evaluable: int
    ok: int
    baseline: float | None
    best: float | None
    beats: bool
    wall: float
    strop_wall: float
    tokens: int
    estimated: int
    calls: int
    overflows: int
    lost_to_overflow: int
    moved: int  # params: the model's point had been tried before and was moved by a step
    fallbacks: int
    modes: dict[str, int] = field(default_factory=dict)
    server: ServerCounts | None = None
    leaks: list[str] = field(default_factory=list)
    stop_reason: str = ""
    budget_report: str = ""
    budget: int = 0  # the experiment budget asked for
    llm_proposals: int = 0  # proposals the LLM made (not the offline fallback's)
    llm_evaluable: int = 0
    ideas: list[str] = field(default_factory=list)  # per proposal: proposer/mode, status, idea (JSON only)

    @property
    def evaluable_rate(self) -> float:
        return self.evaluable / self.proposals if self.proposals else 0.0


def task_copy(
    task: str, mode: str, seed: int, experiments: int, server: Server | None, n_ctx: int, max_tokens: int
) -> Path:
    """The task's folder copied to a temporary place, its task.toml rewritten for this run.

    A copy, not a file beside the original: a killed benchmark leaves nothing in the bundled tasks.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"strop-local-llm-{task}-")) / task
    shutil.copytree(TASKS / task, folder)
    source = folder / "task.toml"
    text = source.read_text()
    text = re.sub(r"(?ms)^\[(budget|llm|knowledge)\].*?(?=^\[|\Z)", "", text)
    text = re.sub(r"(?m)^kind = \"\w+\"", f'kind = "{"evolve" if mode == "evolve" else "llm"}"', text)
    text = re.sub(r"(?m)^seed = \d+", f"seed = {seed}", text)
    text += f'\n[budget]\nexperiments = {experiments}\nturns = "fixed"\nturn_limit = 1\n'
    text += "\n[knowledge]\nmemory = false\n"
    if server is not None and mode != "evolve":
        text += (
            f'\n[llm]\nbase_url = "{server.base_url}"\nmodel = "{server.model}"\nanswers = "{mode}"\n'
            f'context = {n_ctx}\nmax_tokens = {max_tokens}\nrequest_timeout = "120s"\ntemperature = 0.7\n'
        )
    source.write_text(text)
    return source


def leaks(key: str, home: Path, repo: Path | None) -> list[str]:
    """Where the key appears: files under STROP_HOME, git objects and notes of the experiment repo."""
    found = [str(p) for p in home.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    if repo is not None and repo.exists():
        for args in (
            ["log", "--all", "-p", "--format=%H %B"],
            ["log", "-p", "refs/notes/strop", "--format=%H %B"],
        ):
            shown = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True).stdout
            if key in shown:
                found.append(f"{repo}: git {' '.join(args[:2])}")
        objects = subprocess.run(
            ["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo, capture_output=True
        ).stdout
        if key.encode() in objects:
            found.append(f"{repo}: a git object")
    return found


def one(
    task: str, mode: str, seed: int, args: argparse.Namespace, server: Server | None, key: str
) -> RunResult:
    from agent.run_index import RunIndex
    from evaluators.verdict import Status

    copy = task_copy(task, mode, seed, args.experiments, server, args.n_ctx, args.max_tokens)
    home = Path(tempfile.mkdtemp(prefix="strop-local-llm-"))
    log_start = server.log.stat().st_size if server else 0
    try:
        env = {**os.environ, "STROP_HOME": str(home), "OPENAI_API_KEY": key, "HF_HUB_OFFLINE": "1"}
        started = time.monotonic()
        done = subprocess.run(
            # a generous time budget, so that strop accounts for its wall time (from its process's start)
            [sys.executable, "-m", "agent.cli", "run", str(copy), "--quiet", "--json", "--time", "3600s"],
            capture_output=True, text=True, env=env, timeout=args.run_timeout,
        )  # fmt: skip
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise BenchmarkError(
                f"{task}/{mode}/{seed}: strop run exited {done.returncode}: {done.stderr[-500:]}"
            )
        index = RunIndex(home)
        run = index.runs()[0]
        records = sorted(index.experiments(run.id), key=lambda r: r.id)
        index.close()
        metric, maximize = run.metric, run.direction.value == "maximize"
        proposals = [r for r in records if r.id != 0]
        scores = [r.metrics[metric] for r in records if r.status is Status.OK and metric in r.metrics]
        base = records[0].metrics.get(metric) if records and records[0].status is Status.OK else None
        best = (max(scores) if maximize else min(scores)) if scores else None
        beats = base is not None and best is not None and (best > base if maximize else best < base)
        said = ["\n".join([r.reason, *r.decisions]) for r in proposals]
        overflow = [s for s in said if "context overflow" in s]
        lost = [
            r
            for r, s in zip(proposals, said, strict=True)
            if r.status is Status.REJECTED and "context overflow" in r.reason
        ]
        modes: dict[str, int] = {}
        for r in proposals:
            label = f"{r.proposer}/{r.mode}" if r.mode else r.proposer
            modes[label] = modes.get(label, 0) + 1
        cost_tokens = sum(r.cost.tokens for r in records)
        server_slice = None
        if server is not None:
            server_slice = server_counts(server.log.read_bytes()[log_start:].decode(errors="replace"))
        return RunResult(
            task=task, mode=mode, seed=seed, experiments=len(records), proposals=len(proposals),
            evaluable=sum(r.status not in (Status.REJECTED, Status.PENDING) for r in proposals),
            ok=sum(r.status is Status.OK for r in proposals), baseline=base, best=best, beats=beats,
            wall=round(wall, 2), strop_wall=_strop_wall(run), tokens=cost_tokens, budget_report=run.budget_report,
            budget=args.experiments,
            llm_proposals=sum(r.proposer == "llm" for r in proposals),
            ideas=[f"{r.id} {r.proposer}/{r.mode} {r.status.value}: {r.idea[:100]} | {r.reason[:100]}" for r in proposals],
            llm_evaluable=sum(r.proposer == "llm" and r.status not in (Status.REJECTED, Status.PENDING) for r in proposals),
            estimated=sum(r.cost.estimated for r in records), calls=sum(r.cost.calls for r in records),
            overflows=len(overflow), lost_to_overflow=len(lost),
            moved=sum("tried before" in s for s in said),
            fallbacks=sum(r.proposer == "evolve" and r.mode == "offline" for r in proposals),
            modes=modes, server=server_slice,
            leaks=leaks(key, home, Path(run.repo)) + ([str(copy)] if key in copy.read_text() else []),
            stop_reason=run.stop_reason,
        )  # fmt: skip
    finally:
        shutil.rmtree(copy.parent.parent, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def _strop_wall(run: object) -> float:
    """The run's own account of its wall time: the time budget's use (from the process's start), else
    finished − started in its record."""
    from datetime import datetime

    used = re.search(r"time: ([\d.]+)s of", getattr(run, "budget_report", "") or "")
    if used:
        return float(used.group(1))
    started, finished = getattr(run, "started", None), getattr(run, "finished", None)
    if not started or not finished:
        return 0.0
    return round((datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds(), 2)


def pct(a: float, b: float) -> str:
    return "n/a" if not b else f"{100 * (a - b) / b:+.1f}%"


def report(results: list[RunResult]) -> None:
    print(
        f"\n{'task':<13}{'mode':<11}{'seed':>4} {'eval':>6} {'ok':>5} {'exp0':>9} {'best':>9} {'beats':>5} "
        f"{'s/exp':>6} {'tok/exp':>8} {'est%':>5} {'ovf':>4} {'lost':>4} {'moved':>5} {'fb':>3}"
    )
    for r in results:
        per = max(1, r.experiments)
        est = 100 * r.estimated / r.tokens if r.tokens else 0
        print(
            f"{r.task:<13}{r.mode:<11}{r.seed:>4} {r.evaluable}/{r.proposals:<4} {r.ok:>5} {_num(r.baseline):>9} "
            f"{_num(r.best):>9} {'yes' if r.beats else 'NO':>5} {r.wall / per:>6.1f} {r.tokens / per:>8.0f} "
            f"{est:>4.0f}% {r.overflows:>4} {r.lost_to_overflow:>4} {r.moved:>5} {r.fallbacks:>3}"
        )
    print("\nper task and mode (over seeds): evaluable rate, best beats experiment 0 on every seed")
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.task, r.mode), []).append(r)
    for (task, mode), runs in groups.items():
        rate = sum(r.evaluable for r in runs) / max(1, sum(r.proposals for r in runs))
        secs = statistics.mean(r.wall / max(1, r.experiments) for r in runs)
        toks = statistics.mean(r.tokens / max(1, r.experiments) for r in runs)
        llm = sum(r.llm_evaluable for r in runs), sum(r.llm_proposals for r in runs)
        print(
            f"  {task:<13}{mode:<11} evaluable {100 * rate:5.1f}% (LLM-made: {llm[0]}/{llm[1]})  beats exp 0: "
            f"{sum(r.beats for r in runs)}/{len(runs)}  {secs:5.1f} s/exp  {toks:6.0f} tokens/exp  "
            f"lost to overflow {sum(r.lost_to_overflow for r in runs)}"
        )
    print(
        "\nbookkeeping (issue 19): recorded vs budget, strop's wall vs measured, strop's counts vs the server's"
    )
    for r in results:
        line = f"  {r.task}/{r.mode}/{r.seed}: experiments {r.experiments} of {r.budget} budgeted"
        line += f"; wall {r.strop_wall:.1f}s vs {r.wall:.1f}s measured ({pct(r.strop_wall, r.wall)})"
        if r.server is not None:
            s = r.server
            line += f"; calls {r.calls} vs {s.requests} served ({pct(r.calls, s.requests)})"
            logged = s.prompt_tokens + s.generated
            if s.counted:
                served = s.counted_prompt + s.counted_generated
                line += f"; tokens {r.tokens} vs {served} counted by the server ({pct(r.tokens, served)}"
                line += f"; {s.counted_prompt} prompt + {s.counted_generated} generated, {s.cut_off} closed mid-way)"
                line += f", vs {logged} in its perf log ({pct(r.tokens, logged)})"
            else:
                line += f"; tokens {r.tokens} vs {logged} ({pct(r.tokens, logged)})"
            if s.cut_off and not s.counted:
                line += f" ({s.cut_off} request(s) closed mid-way: their prompts count, their generated tokens are not in the log)"
            if s.unsized:
                line += f" ({s.unsized} wholly cached prompt(s): sizes not in the log)"
        print(line)
    leaked = [leak for r in results for leak in r.leaks]
    print(
        f"\nAPI key check: {'LEAKED: ' + '; '.join(leaked) if leaked else 'the key appears nowhere (home, git objects, notes, logs)'}"
    )


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.local_llm", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--tasks", default="digits-gbm,diabetes-pca")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--modes", default=",".join(MODES), help=f"any of {', '.join(MODES)}")
    parser.add_argument("--experiments", type=int, default=8)
    parser.add_argument(
        "--model", default=None, help=f"the GGUF (default: {MODEL_FILE} from the setup script)"
    )
    parser.add_argument("--n-ctx", type=int, default=8192)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--run-timeout", type=float, default=1800.0)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill stops the server and the run too
    tasks = [t for t in args.tasks.split(",") if t]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    try:
        if unknown := [m for m in modes if m not in MODES]:
            raise BenchmarkError(f"unknown mode(s) {', '.join(unknown)}; use {', '.join(MODES)}")
        if missing := [t for t in tasks if not (TASKS / t / "task.toml").is_file()]:
            raise BenchmarkError(f"unknown task(s) {', '.join(missing)} (see {TASKS})")
        return run_all(args, tasks, seeds, modes)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run_all(args: argparse.Namespace, tasks: list[str], seeds: list[int], modes: list[str]) -> int:
    key = "sk-local-" + secrets.token_hex(16)
    folder = Path(tempfile.mkdtemp(prefix="strop-llama-server-"))
    server = None
    results: list[RunResult] = []
    try:
        if any(m != "evolve" for m in modes):
            model = find_model(args.model)
            print(f"server: llama-cpp-python on 127.0.0.1 with {model.name}, n_ctx {args.n_ctx}", flush=True)
            server = Server.start(model, key, args.n_ctx, folder)
        for task in tasks:
            for mode in modes:
                for seed in seeds:
                    result = one(task, mode, seed, args, server if mode != "evolve" else None, key)
                    results.append(result)
                    print(
                        f"{task}/{mode}/seed {seed}: {result.evaluable}/{result.proposals} evaluable, "
                        f"best {_num(result.best)} vs exp 0 {_num(result.baseline)}, {result.wall:.0f}s",
                        flush=True,
                    )
        if server is not None:
            server.stop()
            log_text = server.log.read_text(errors="replace")
            if key in log_text:
                results[-1].leaks.append("the server's own log")  # not strop's doing, but said
    finally:
        if server is not None and server.process.poll() is None:
            server.stop()
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
