"""Red team: hostile candidates against two-stage evaluation, on docker and bwrap.

Each test is a real workspace change (the candidate's `train.py`, sometimes with
files beside it) run through `strop eval` or `strop run`. None may end with a forged
metric, private data read, or a file touched outside the sandbox. The defence each
one checks is named in its docstring.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.redteam.conftest import HONEST, HostileTask, honest_or_refused, strop, verdict

HONEST_PREDICT = """
import json, os
from pathlib import Path
data = json.loads((Path(os.environ["STROP_PUBLIC"]) / "data.json").read_text())
majority = int(sum(y for _, y in data["train"]) * 2 > len(data["train"]))
PRED = {s: [majority] * len(data[s]) for s in ("validation", "test")}
OUT = Path(os.environ["STROP_OUTPUTS"])
(OUT / "predictions.json").write_text(json.dumps(PRED))
"""


def evaluate(task: HostileTask) -> dict:  # type: ignore[type-arg]
    return verdict(strop("eval", str(task.task), "--json"))


def assert_scored_honestly(record: dict) -> None:  # type: ignore[type-arg]
    assert record["status"] == "ok", (record["status"], record["reason"])
    assert record["metrics"]["accuracy"] == HONEST
    assert record["final_metrics"]["accuracy"] == HONEST


def test_honest_candidate_scores_the_honest_value(hostile: HostileTask) -> None:
    """The control: without an attack the task scores exactly HONEST in both phases."""
    assert_scored_honestly(evaluate(hostile))


def test_metric_printed_at_exit_is_ignored(hostile: HostileTask) -> None:
    """Forgery (a): an atexit print of the metric. Defence: metrics come from the scorer's stdout only."""
    hostile.attack(HONEST_PREDICT + "import atexit\natexit.register(lambda: print('{\"accuracy\": 1.0}'))\n")
    record = evaluate(hostile)
    assert_scored_honestly(record)


def test_patched_library_cannot_reach_the_scorer(hostile: HostileTask) -> None:
    """Forgery (c): monkeypatching, and modules planted for the scorer to import.

    Defence: the scorer runs in its own process, in its own folder, with `python -I`;
    the outputs are data it reads, never a folder on its import path.
    """
    plant = "def loads(*a, **k):\n    return {'validation': [1] * 40, 'test': [1] * 40, 'accuracy': 1.0}\n"
    hostile.attack(
        HONEST_PREDICT
        + "import builtins\nbuiltins.sum = lambda *a, **k: 40\n"
        + f"(OUT / 'json.py').write_text({plant!r})\n"
        + "(OUT / 'sitecustomize.py').write_text('import builtins; builtins.sum = lambda *a, **k: 40')\n"
        + f"Path('json.py').write_text({plant!r})\n"
    )
    assert_scored_honestly(evaluate(hostile))


def test_private_labels_are_not_reachable_by_path(hostile: HostileTask) -> None:
    """Forgery (b)'s idea: read the answers from wherever they are kept on the host.

    Defence: stage run mounts neither the task folder, nor the run's snapshot of the
    private data, nor strop's home. The candidate searches every place it can think of.
    """
    hostile.attack(
        HONEST_PREDICT
        + """
import glob
found = []
guesses = ["@ROOT@/private/*/labels.json", "/proc/*/cwd/labels.json", "/proc/*/root/@ROOT@/private/*/labels.json"]
here = Path.cwd()
for parent in [here, *here.parents][:-1]:
    guesses += [str(parent / ("*/" * depth) / "labels.json") for depth in range(6)]
for pattern in guesses:
    for path in glob.glob(pattern)[:50]:
        try:
            truth = json.loads(Path(path).read_text())
            PRED[truth["split"]] = truth["labels"]
            found.append(path)
        except Exception:
            pass
print("found", found)
(OUT / "predictions.json").write_text(json.dumps(PRED))
"""
    )
    honest_or_refused(evaluate(hostile))


def test_proc_snooping_daemon_sees_no_scorer(hostile: HostileTask) -> None:
    """A daemon outlives stage run to read the scorer's environment and files through /proc.

    Defence: every process of stage run is gone (container removed, pid namespace
    killed) before stage score starts, in another sandbox.
    """
    hostile.attack(
        HONEST_PREDICT
        + """
import time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        end = time.time() + 20
        while time.time() < end:
            for env in Path("/proc").glob("*/environ"):
                try:
                    text = env.read_bytes().decode(errors="replace")
                except Exception:
                    continue
                if "STROP_PRIVATE=" in text:
                    private = text.split("STROP_PRIVATE=")[1].split("\\0")[0]
                    truth = json.loads((Path(private) / "labels.json").read_text())
                    PRED[truth["split"]] = truth["labels"]
                    outputs = text.split("STROP_OUTPUTS=")[1].split("\\0")[0]
                    (Path(outputs) / "predictions.json").write_text(json.dumps(PRED))
            time.sleep(0.01)
    os._exit(0)
"""
    )
    honest_or_refused(evaluate(hostile))


def test_daemon_rewriting_outputs_after_stage_run_is_too_late(hostile: HostileTask) -> None:
    """A detached child keeps rewriting predictions.json from half a second after train.py exits.

    Defence: stage run ends when its last process is gone (container removed, pid
    namespace killed), and the scorer reads a sealed copy taken then. A rewrite that
    landed would make the scorer reject the outputs (garbage), so an honest `ok`
    proves it did not.
    """
    hostile.attack(
        HONEST_PREDICT
        + """
import time
main = os.getpid()
if os.fork() == 0:
    os.setsid()
    while Path(f"/proc/{main}").exists():  # wait until train.py has exited and stage run is over
        time.sleep(0.005)
    time.sleep(0.5)
    for _ in range(1000):
        (OUT / "predictions.json").write_text("garbage")
        time.sleep(0.005)
    os._exit(0)
"""
    )
    assert_scored_honestly(evaluate(hostile))


def test_output_symlinks_are_refused(hostile: HostileTask) -> None:
    """Outputs that are symlinks into the private data (found from the sandbox's path) or the host.

    Defence: sealing opens every entry with O_NOFOLLOW: a symlink is refused, never read.
    """
    hostile.attack(
        """
import os
from pathlib import Path
out = Path(os.environ["STROP_OUTPUTS"])
os.symlink("../../../evaluator/trusted/private/labels.json", out / "predictions.json")
os.symlink("/etc/passwd", out / "passwd")
"""
    )
    record = evaluate(hostile)
    assert record["status"] == "buggy"
    assert "symlink" in record["reason"], record["reason"]


def test_huge_artifact_is_refused(hostile: HostileTask) -> None:
    """2 MiB of outputs against a 1 MiB `outputs_limit`. Defence: sealing counts bytes and stops."""
    hostile.attack(HONEST_PREDICT + "(OUT / 'blob.bin').write_bytes(b'x' * (2 << 20))\n")
    record = evaluate(hostile)
    assert record["status"] == "buggy"
    assert "more than" in record["reason"], record["reason"]


def test_endless_artifact_does_not_hang_the_scorer(hostile: HostileTask) -> None:
    """predictions.json is a FIFO nobody writes. Defence: only regular files are sealed (O_NONBLOCK open)."""
    hostile.attack(
        "import os\nfrom pathlib import Path\nos.mkfifo(Path(os.environ['STROP_OUTPUTS']) / 'predictions.json')\n"
    )
    started = time.monotonic()
    record = evaluate(hostile)
    assert record["status"] == "buggy"
    assert "not a regular file" in record["reason"], record["reason"]
    assert time.monotonic() - started < 60


def test_nan_inf_and_strings_are_not_scores(hostile: HostileTask) -> None:
    """Predictions of NaN, inf and strings. Defence: the scorer validates; a rejection is `buggy`."""
    hostile.attack(
        HONEST_PREDICT
        + 'PRED["validation"] = [float("nan")] * 20 + [float("inf")] * 10 + ["1"] * 10\n'
        + "(OUT / 'predictions.json').write_text(json.dumps(PRED))\n"
    )
    record = evaluate(hostile)
    assert record["status"] == "buggy"
    assert "scorer" in record["reason"], record["reason"]


def test_sleeping_past_the_timeout_with_outputs_open(hostile: HostileTask) -> None:
    """The candidate holds predictions.json open and sleeps past its limit.

    Defence: the sandbox kills the whole stage at the timeout; the verdict is `timeout`,
    the scorer never runs, and the evaluation's scratch folder is removed.
    """
    hostile.configure(timeout="4s")
    hostile.attack(
        HONEST_PREDICT + "handle = open(OUT / 'predictions.json', 'a')\nimport time\ntime.sleep(120)\n"
    )
    started = time.monotonic()
    record = evaluate(hostile)
    assert record["status"] == "timeout", record["reason"]
    assert time.monotonic() - started < 60
    scratch = [p for p in Path(record["log_path"]).parents[1].glob("scratch/*")]
    assert scratch == []


def test_candidate_cannot_tell_the_final_phase(hostile: HostileTask) -> None:
    """A candidate that would behave differently on the hidden test, if only it could tell.

    Defence: stage run gets the same command, environment and kind of path in both
    phases (no STROP_PHASE, a random folder name); only the scorer is told.
    """
    hostile.attack(
        HONEST_PREDICT
        + """
import sys
clues = [k for k, v in os.environ.items() if "final" in (k + v).lower() or k == "STROP_PHASE"]
clues += ["cwd"] if "final" in os.getcwd() else []
print("CLUES", clues)
if clues:
    (OUT / "predictions.json").write_text("garbage")
"""
    )
    record = evaluate(hostile)
    assert_scored_honestly(record)
    logs = Path(record["log_path"]).parent
    for log in logs.glob("*.log"):
        assert "CLUES []" in log.read_text(), log.read_text()[:2000]


def test_writes_to_the_host_do_not_land(hostile: HostileTask) -> None:
    """Writes to the user's workspace, the task's public and private data, and host /tmp.

    Defence: none of them is mounted in stage run (public is, read-only).
    """
    hostile.attack(
        HONEST_PREDICT
        + """
targets = ["@ROOT@/workspace/PWNED", "@ROOT@/private/final/labels.json", "@ROOT@/task.toml", "@MARKER@",
           os.environ["STROP_PUBLIC"] + "/data.json"]
for target in targets:
    try:
        Path(target).write_text("pwned")
        print("wrote", target)
    except Exception as error:
        print("refused", target, type(error).__name__)
"""
    )
    before = (hostile.root / "public" / "data.json").read_text()
    record = evaluate(hostile)
    assert_scored_honestly(record)
    assert not (hostile.workspace / "PWNED").exists()
    assert not hostile.marker.exists()
    assert (hostile.root / "private" / "final" / "labels.json").read_text() == hostile.private_text
    assert "pwned" not in hostile.task.read_text()
    assert (hostile.root / "public" / "data.json").read_text() == before


GIT_POISON = """
import os, stat
from pathlib import Path
HOOK = "#!/bin/sh\\ntouch @MARKER@\\n"

def fake_git(folder):
    evil = folder / ".evil"
    (evil / "hooks").mkdir(parents=True, exist_ok=True)
    (evil / "objects" / "info").mkdir(parents=True, exist_ok=True)
    (evil / "refs").mkdir(exist_ok=True)
    (evil / "HEAD").write_text("ref: refs/heads/main\\n")
    for hook in ("post-checkout", "post-commit", "pre-commit", "reference-transaction", "fsmonitor"):
        path = evil / "hooks" / hook
        path.write_text(HOOK)
        path.chmod(0o755)
    (evil / "config").write_text(
        "[core]\\n\\thooksPath = %s\\n\\tfsmonitor = %s\\n[filter \\"evil\\"]\\n\\tclean = touch @MARKER@\\n"
        "\\tsmudge = touch @MARKER@\\n" % (evil / "hooks", evil / "hooks" / "fsmonitor"))
    return evil

def poison(folder):
    try:
        dot_git = folder / ".git"
        if dot_git.is_file() and "/.git/worktrees/" not in dot_git.read_text():
            return  # poisoned by an earlier experiment already
        evil = fake_git(folder)
        dot_git = folder / ".git"
        if dot_git.is_file():  # a worktree: point the fake folder's objects at the real ones
            admin = Path(dot_git.read_text().split("gitdir:")[1].strip())
            common = admin.parent.parent  # <repo>/.git: not mounted here, but host git will read it
            (evil / "objects" / "info" / "alternates").write_text(str(common / "objects") + "\\n")
        if dot_git.is_dir() and not dot_git.is_symlink():
            with open(dot_git / "config", "a") as handle:
                handle.write("[core]\\n\\thooksPath = %s\\n" % (evil / "hooks"))
        else:
            if dot_git.exists() or dot_git.is_symlink():
                dot_git.unlink()
            if @SYMLINK@:
                dot_git.symlink_to(evil)
            else:
                dot_git.write_text("gitdir: %s\\n" % evil)
        (folder / ".gitattributes").write_text("* filter=evil diff=evil merge=evil\\n")
        print("poisoned", folder)
    except Exception as error:
        print("could not poison", folder, type(error).__name__)

here = Path.cwd()
poison(here)
for parent in here.parents:
    for lane in list(parent.glob("worktrees/*/*/lane-*")) + list(parent.glob("repos/*")):
        poison(lane)
"""


def _poisoned_run(hostile: HostileTask, symlink: bool) -> None:
    attributes = "* filter=evil diff=evil merge=evil\n"
    hostile.attack(
        HONEST_PREDICT + GIT_POISON.replace("@SYMLINK@", str(symlink)), **{".gitattributes": attributes}
    )
    result = strop("run", str(hostile.task), "-n", "3", "--json")
    assert result.code == 0, result.stderr[-2000:]
    assert not hostile.marker.exists(), "a hook planted by the candidate ran on the host"
    summary = json.loads(result.stdout)
    assert summary["experiments"] == 3, summary
    assert summary["baseline"]["metrics"]["accuracy"] == HONEST


def test_git_pointer_and_hooks_never_run_on_the_host(hostile: HostileTask) -> None:
    """The reported escape: a `.git` gitdir pointer to a fake git folder with hooks, fsmonitor,
    hooksPath and filter drivers, planted in the evaluated folder and in every lane it can find.

    Defence: the candidate runs on an export without `.git`, away from the lanes; host git
    runs with an explicit, checked --git-dir and hooks, fsmonitor and attributes off.
    Three experiments follow, so host-side checkouts and commits happen after the attack.
    """
    _poisoned_run(hostile, symlink=False)


def test_symlinked_git_folder_never_runs_on_the_host(hostile: HostileTask) -> None:
    """The same attack with `.git` replaced by a symlink to the fake git folder."""
    _poisoned_run(hostile, symlink=True)


def test_final_answers_do_not_exist_while_the_candidate_runs(any_backend_task: HostileTask) -> None:
    """A candidate that looks beside its outputs folder for the final phase's answers.

    Where the sandbox shows the host (`local`), the evaluation folder is reachable;
    the final answers must not be in it yet. Defence: they are copied in only after
    every process of stage run is gone, and the scorer's sandbox is never started
    early (see `evaluators.held`) in the final phase.
    """
    any_backend_task.attack(
        HONEST_PREDICT
        + """
found = OUT.parent / "final-private" / "labels.json"
print("FOUND", found.exists())
if found.exists():
    PRED["test"] = json.loads(found.read_text())["labels"]
    (OUT / "predictions.json").write_text(json.dumps(PRED))
"""
    )
    record = evaluate(any_backend_task)
    assert_scored_honestly(record)


def test_killing_every_process_it_can_does_not_stop_the_scorer(hostile: HostileTask) -> None:
    """The scorer's sandbox exists while the candidate runs (held: see `evaluators.held`).

    A candidate that signals every process it may, and every one whose command line it
    can read, must not reach it. Defence: its own pid namespace (bwrap) or container.
    """
    hostile.attack(
        HONEST_PREDICT
        + """
import signal
try:
    os.kill(-1, signal.SIGKILL)
except OSError as error:
    print("kill -1:", error)
for entry in os.listdir("/proc"):
    if entry.isdigit() and int(entry) != os.getpid():
        try:
            os.kill(int(entry), signal.SIGKILL)
        except OSError:
            pass
"""
    )
    assert_scored_honestly(evaluate(hostile))


def test_a_tree_nested_past_path_max_is_given_back_and_removed(any_backend_task: HostileTask) -> None:
    """Folders nested 1,500 deep under 100-character names: no path names the bottom (PATH_MAX is
    4,096) and no recursive walk reaches it (Python's limit is 1,000).

    Giving the lent workspace back to its owner and removing the evaluation folder must still
    work, and the evaluation must end in a verdict, not a crash. Defence: `walk_beneath` goes one
    folder at a time through descriptors, iteratively.
    """
    any_backend_task.attack(
        HONEST_PREDICT
        + """
fd = os.open(".", os.O_RDONLY)
for level in range(1500):
    os.mkdir("d" * 100, dir_fd=fd)
    inner = os.open("d" * 100, os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = inner
os.close(os.open("bottom", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
print("nested")
"""
    )
    assert_scored_honestly(evaluate(any_backend_task))
    home = Path(os.environ["STROP_HOME"])
    assert not [entry for entry in home.glob("runs/*/scratch/*")], "an evaluation folder was left behind"


LENIENT_SCORER = """
import json, os, sys
from pathlib import Path

truth = json.loads((Path(os.environ["STROP_PRIVATE"]) / "labels.json").read_text())
try:
    guessed = json.loads((Path(os.environ["STROP_OUTPUTS"]) / "predictions.json").read_text())[truth["split"]]
except Exception as error:
    print(f"invalid predictions, nothing scored: {type(error).__name__}", file=sys.stderr)
    sys.exit(0)
score = sum(g == t for g, t in zip(guessed, truth["labels"])) / len(truth["labels"])
Path("metrics.json").write_text(json.dumps({"accuracy": score}))
"""


def test_a_metrics_file_left_in_the_scorer_folder_is_not_a_score(hostile: HostileTask) -> None:
    """Forgery: the task's scorer writes `metrics_file`, and its author left one from a run by hand
    (accuracy 1.0) in the scorer folder. Outputs that make the scorer exit 0 without writing
    scored 1.0 in both phases. Defence: the scorer's copy never holds a metrics file it did not write.
    """
    hostile.task.write_text(
        hostile.task.read_text().replace("[budget]", 'metrics_file = "metrics.json"\n\n[budget]')
    )
    (hostile.root / "scorer" / "score.py").write_text(LENIENT_SCORER)
    (hostile.root / "scorer" / "metrics.json").write_text('{"accuracy": 1.0}')
    assert_scored_honestly(evaluate(hostile))  # the scorer writes its own: the left-over file is not read
    hostile.attack(
        "from pathlib import Path\nimport os\n(Path(os.environ['STROP_OUTPUTS']) / 'predictions.json').write_text('not json')\n"
    )
    record = evaluate(hostile)
    assert record["status"] == "buggy" and "metrics file 'metrics.json'" in record["reason"], record
    assert "accuracy" not in record["metrics"] and not (record.get("final_metrics") or {}).get("accuracy")
    assert (
        hostile.root / "scorer" / "metrics.json"
    ).read_text() == '{"accuracy": 1.0}'  # the user's file kept
