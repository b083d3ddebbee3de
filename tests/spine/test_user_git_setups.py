"""strop's git loop under the settings real users' git has: signing, hooks, CRLF, submodules, ignores.

Each test is a user's repo set up as a report found it breaking strop: `commit.gpgSign=true`
stopped every run at its first commit (or signed strop's commits with the user's key), a hook
that failed made `adopt --squash` leave the user's repo half-changed and every other failure
read "conflicts", `core.safecrlf` stopped a CRLF checkout's run, a submodule's files were
missing from every experiment without a word, and a plain folder's own ignored files blocked
every adopt. Real git, real repos, the real CLI.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.errors import RunError
from agent.home import strop_home
from agent.run import Candidate, Run
from agent.run_index import RunIndex
from agent.task import load_task
from evaluators.verdict import Status
from tests.spine.conftest import Result, Workspace, git, git_output, plain_folder_task
from tests.spine.test_odd_tasks import odd_task


def _fake_gpg(tmp_path: Path) -> tuple[Path, Path]:
    """A `gpg.program` that notes it was asked to sign, then fails as gpg without a key does."""
    marker = tmp_path / "gpg-was-asked"
    program = tmp_path / "fake-gpg.sh"
    program.write_text(
        f"#!/bin/sh\necho asked >> {marker}\necho 'gpg: signing failed: No secret key' >&2\nexit 2\n"
    )
    program.chmod(0o755)
    return program, marker


def _improved(ws: Workspace, value: str = "0.9") -> Run:
    """A finished run of `ws` whose experiment 1 writes `value` into value.txt."""
    run = Run.start(load_task(ws.task), strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    run.evaluate(run.commit_candidate(1, base, Candidate("raise the value", files={"value.txt": value})))
    run.finish()
    return run


def _state(repo: Path) -> tuple[str, ...]:
    """What the user sees of their repo: HEAD, branch, every file's status (ignored ones too),
    the index, and git's merge/squash state files."""
    git_dir = Path(git(repo, "rev-parse", "--absolute-git-dir"))
    return (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "symbolic-ref", "-q", "HEAD"),
        git_output(repo, "status", "--porcelain", "--ignored", "--untracked-files=all"),
        git_output(repo, "ls-files", "-s"),
        " ".join(name for name in ("SQUASH_MSG", "MERGE_HEAD", "MERGE_MSG") if (git_dir / name).exists()),
    )


def _one_error(result: Result) -> str:
    """The single `error:` line of a refused command (exit 2, no traceback)."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.code == 2 and len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    return " ".join(result.stderr.split())  # Rich wraps the one line at the terminal's width


# ------------------------------------------------------------------ signing
def test_strop_never_signs_its_own_commits_in_a_repo_that_signs(
    make_workspace: Callable[..., Workspace], cli: Callable[..., Result], tmp_path: Path
) -> None:
    """With `commit.gpgSign=true` and no usable key `strop eval` died at its commit ("gpg failed
    to sign the data", seven lines); with a key, every experiment was signed with the user's."""
    ws = make_workspace()
    program, marker = _fake_gpg(tmp_path)
    git(ws.path, "config", "commit.gpgSign", "true")
    git(ws.path, "config", "tag.gpgSign", "true")
    git(ws.path, "config", "gpg.program", str(program))
    result = cli("eval", str(ws.task))
    assert result.code == 0, result.stderr
    assert not marker.exists(), "strop asked the user's gpg to sign its commit"
    branch = git(ws.path, "for-each-ref", "--format=%(refname:short)", "refs/heads/strop/")
    assert "gpgsig" not in git(ws.path, "cat-file", "commit", branch)


def test_strop_never_signs_the_copy_of_a_task_folder_inside_a_repo(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's `strop run benchmarks/tasks/…`: the folder is copied into a repo strop manages,
    whose commit read the user's global `commit.gpgSign` and died the same way."""
    program, marker = _fake_gpg(tmp_path)
    config = tmp_path / "global-gitconfig"
    config.write_text(
        f"[user]\n\tname = u\n\temail = u@u\n[commit]\n\tgpgSign = true\n[gpg]\n\tprogram = {program}\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    project, task = _task_inside_a_repo(tmp_path)
    result = cli("eval", str(task))
    assert result.code == 0, result.stderr
    assert not marker.exists(), "strop asked the user's gpg to sign its commit"


def test_a_commit_git_refuses_stops_the_run_with_one_line(make_workspace: Callable[..., Workspace]) -> None:
    """Any git failure at an experiment's commit was GitPython's seven-line internal error."""
    ws = make_workspace()
    run = Run.start(load_task(ws.task), strop_home(), RunIndex(strop_home()))
    git(ws.path, "config", "commit.cleanup", "no-such-mode")  # git refuses every commit from now on
    with pytest.raises(RunError) as refused:
        run.commit_candidate(0, None, Candidate("baseline"))
    said = str(refused.value)
    assert "\n" not in said and said.startswith("git commit failed in "), said
    assert "no-such-mode" in said, said


# -------------------------------------------------------------------- adopt
def _hook(ws: Workspace, name: str, body: str) -> None:
    hook = ws.path / ".git" / "hooks" / name
    hook.write_text(f"#!/bin/sh\n{body}\n")
    hook.chmod(0o755)


# a pre-commit hook as the pre-commit framework's end-of-file-fixer: it rewrites the staged files, then fails
FIXER = 'for f in $(git diff --cached --name-only); do printf "\\n" >> "$f"; done\necho "fixed end of files"; exit 1'


@pytest.mark.parametrize(
    ("squash", "setup", "reason"),
    [
        (True, lambda ws, _: _hook(ws, "pre-commit", FIXER), "fixed end of files"),
        (False, lambda ws, _: _hook(ws, "pre-merge-commit", FIXER), "fixed end of files"),
        (
            False,
            lambda ws, _: _hook(ws, "commit-msg", 'echo "commit message must be conventional"; exit 1'),
            "commit message must be conventional",
        ),
        (True, lambda ws, _: _hook(ws, "commit-msg", 'echo "needs a ticket"; exit 1'), "needs a ticket"),
        (False, lambda ws, _: git(ws.path, "config", "merge.verifySignatures", "true"), "GPG signature"),
        (
            False,
            lambda ws, _: (ws.path / ".git" / "index.lock").write_text(""),
            "index.lock exists: another git process is running",
        ),
        (
            True,
            lambda ws, tmp: (
                git(ws.path, "config", "commit.gpgSign", "true"),
                git(ws.path, "config", "gpg.program", str(_fake_gpg(tmp)[0])),
            ),
            "gpg failed to sign",
        ),
    ],
    ids=[
        "pre-commit-squash",
        "pre-merge-commit",
        "commit-msg",
        "commit-msg-squash",
        "verifySignatures",
        "index-lock",
        "gpg-squash",
    ],
)
def test_an_adopt_git_refuses_changes_nothing_and_says_git_s_reason(
    make_workspace: Callable[..., Workspace],
    cli: Callable[..., Result],
    tmp_path: Path,
    squash: bool,
    setup: Callable[[Workspace, Path], object],
    reason: str,
) -> None:
    """Adopt's commit is the user's: their hooks and signing apply. When one fails, the squash left
    params staged and `.git/SQUASH_MSG` (the next adopt refused the dirty tree), and every failure
    was "conflicts with main"."""
    ws = make_workspace(value="0.1")
    run = _improved(ws)
    setup(ws, tmp_path)
    before = _state(ws.path)
    result = cli("adopt", f"{run.record.id}/1", *(["--squash"] if squash else []))
    said = _one_error(result)
    assert "conflict" not in said and reason in said and "nothing was" in said, said
    assert _state(ws.path) == before
    assert (ws.path / "value.txt").read_text() == "0.1"


def test_an_adopt_that_conflicts_is_still_called_a_conflict(
    make_workspace: Callable[..., Workspace], cli: Callable[..., Result]
) -> None:
    ws = make_workspace(value="0.1")
    run = _improved(ws)
    (ws.path / "value.txt").write_text("0.5")
    git(ws.path, "commit", "-qam", "mine")
    before = _state(ws.path)
    for squash in ([], ["--squash"]):
        said = _one_error(cli("adopt", f"{run.record.id}/1", *squash))
        assert "conflicts with main: nothing was changed" in said, said
        assert _state(ws.path) == before


def test_adopt_on_a_detached_head_or_a_branch_with_no_commit_says_so(
    make_workspace: Callable[..., Workspace], cli: Callable[..., Result]
) -> None:
    """A detached HEAD was "internal error: TypeError: HEAD is a detached symbolic reference"; an
    orphan branch's staged files went unseen by the dirty check, its merge failed as a "conflict"."""
    ws = make_workspace(value="0.1")
    run = _improved(ws)
    git(ws.path, "checkout", "-q", "--detach")
    said = _one_error(cli("adopt", f"{run.record.id}/1"))
    assert "is detached: check out the branch to adopt into first" in said, said
    git(ws.path, "checkout", "-q", "--orphan", "fresh")
    (ws.path / "value.txt").write_text("mine")
    git(ws.path, "add", "value.txt")
    before = _state_unborn(ws.path)
    said = _one_error(cli("adopt", f"{run.record.id}/1"))
    assert "the branch fresh of" in said and "has no commits yet" in said, said
    assert _state_unborn(ws.path) == before and (ws.path / "value.txt").read_text() == "mine"


def _state_unborn(repo: Path) -> tuple[str, str]:
    return git_output(repo, "status", "--porcelain", "--untracked-files=all"), git_output(
        repo, "ls-files", "-s"
    )


# --------------------------------------------------------------------- CRLF
def test_a_crlf_params_file_keeps_its_line_endings_and_autocrlf_with_safecrlf_runs(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """`core.autocrlf` + `core.safecrlf` with CRLF files stopped the run at experiment 1 ("fatal:
    LF would be replaced by CRLF in params.json"): the params file was always written with LF, which
    also turned a CRLF params.json into LF at adopt."""
    task = odd_task(tmp_path)
    workspace = tmp_path / "ws"
    (workspace / "params.json").write_bytes(b'{\r\n  "x": 1.0\r\n}\r\n')
    git(workspace, "commit", "-qam", "crlf")
    result = cli("run", str(task), "-n", "3")
    assert result.code == 0, result.stderr
    run_id = json.loads(cli("runs", "--json").stdout)[0]["id"]
    stored = subprocess.run(
        ["git", "show", f"strop/{run_id}/2:params.json"], cwd=workspace, capture_output=True, check=True
    ).stdout
    assert stored.count(b"\r\n") == stored.count(b"\n") > 1, stored

    crlf = tmp_path / "crlf"
    crlf.mkdir()
    task = odd_task(crlf)
    workspace = crlf / "ws"
    git(workspace, "config", "core.autocrlf", "true")
    git(workspace, "config", "core.safecrlf", "true")
    for name in ("make.py", "params.json"):
        (workspace / name).write_bytes((workspace / name).read_bytes().replace(b"\n", b"\r\n") + b"\r\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "crlf")
    result = cli("run", str(task), "-n", "3")
    assert result.code == 0, result.stderr
    assert "LF would be replaced" not in result.stdout + result.stderr
    runs = json.loads(cli("runs", "--json").stdout)
    log = json.loads(cli("log", runs[0]["id"], "--json").stdout)
    assert [e["status"] for e in log["experiments"]] == ["ok", "ok", "ok"], log


# --------------------------------------------------------------- submodules
def test_a_submodule_of_the_workspace_is_named_in_a_note(
    make_workspace: Callable[..., Workspace], cli: Callable[..., Result], tmp_path: Path
) -> None:
    """Its files are missing from every experiment (a commit holds a submodule as a commit id):
    code reading them failed with FileNotFoundError, and nothing said why."""
    library = tmp_path / "lib"
    library.mkdir()
    (library / "lib.txt").write_text("lib\n")
    git(library, "init", "-q", "-b", "main")
    git(library, "add", "-A")
    git(library, "commit", "-qm", "lib")
    ws = make_workspace()
    git(ws.path, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "vendor/lib")
    git(ws.path, "commit", "-qm", "add the library")
    result = cli("eval", str(ws.task))
    assert result.code == 0, result.stderr
    words = " ".join((result.stdout + result.stderr).split())
    assert "has git submodules whose files no experiment will have" in words and "vendor/lib" in words, words


# ------------------------------------------------------------ ignored files
def _task_inside_a_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A project repo holding tasks/t (its workspace is the folder tasks/t/ws); returns (project, task)."""
    project = tmp_path / "project"
    folder = project / "tasks" / "t" / "ws"
    folder.mkdir(parents=True)
    (folder / "evaluate.py").write_text('import json\nprint(json.dumps({"loss": float(open("v").read())}))\n')
    (folder / "v").write_text("3")
    task = project / "tasks" / "t" / "task.toml"
    task.write_text(
        '[task]\nname = "t"\ngoal = "g"\nworkspace = "ws"\n[evaluator]\ncommand = "python evaluate.py"\n'
        'metric = "loss"\ndirection = "minimize"\nfiles = ["evaluate.py"]\n'
    )
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "-c", "commit.gpgSign=false", "commit", "-qm", "init")
    return project, task


def test_a_task_folder_inside_a_repo_keeps_what_that_repo_ignores(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """The folder is plain to strop: what the repo around it ignores is often what the evaluator
    reads (`data/`), and applying that repo's rules failed experiment 0 on a missing
    `data/train.csv`. The folder's own .gitignore still applies (see the next test)."""
    project, task = _task_inside_a_repo(tmp_path)
    (project / ".gitignore").write_text("data/\n")
    (project / ".git" / "info" / "exclude").write_text("*.scratch\n")
    folder = task.parent / "ws"
    (folder / "data").mkdir()
    (folder / "data" / "train.csv").write_text("4\n")
    (folder / "notes.scratch").write_text("mine\n")
    (folder / "evaluate.py").write_text(
        'import json\nprint(json.dumps({"loss": float(open("v").read()) + float(open("data/train.csv").read())}))\n'
    )
    git(project, "add", "-A")
    git(project, "-c", "commit.gpgSign=false", "commit", "-qm", "reads data")
    result = cli("eval", str(task))
    assert result.code == 0, result.stderr
    run = Run.start(load_task(task), strop_home(), RunIndex(strop_home()))
    files = git(run.repo.path, "ls-tree", "-r", "--name-only", "workspace").split()
    assert sorted(files) == ["data/train.csv", "evaluate.py", "notes.scratch", "v"], files
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    assert base.status is Status.OK and base.metrics["loss"] == 7.0, base
    run.evaluate(run.commit_candidate(1, base, Candidate("lower", files={"v": "1"})))
    run.finish()
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code == 0, result.stderr
    assert (folder / "v").read_text() == "1" and (folder / "data" / "train.csv").read_text() == "4\n"


def test_a_plain_folder_s_own_ignored_files_are_no_change_to_adopt_over(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """The managed copy's `add -A` left out the folder's own `*.log`, and the folder then had
    "changed since strop last recorded it (run.log)" forever: no adopt could go through."""
    folder, task = plain_folder_task(tmp_path)
    (folder / ".gitignore").write_text("*.log\n")
    (folder / "run.log").write_text("a log the user's tools write\n")
    run = Run.start(load_task(task), strop_home(), RunIndex(strop_home()))
    base = run.evaluate(run.commit_candidate(0, None, Candidate("baseline")))
    run.evaluate(run.commit_candidate(1, base, Candidate("lower", files={"v": "1"})))
    run.finish()
    assert "run.log" not in git(run.repo.path, "ls-tree", "-r", "--name-only", "workspace").split()
    result = cli("adopt", f"{run.record.id}/1")
    assert result.code == 0, result.stderr
    assert (folder / "v").read_text() == "1" and (folder / "run.log").exists()


# ------------------------------------------------------------- diff output
def test_strop_reads_diffs_without_the_user_s_diff_program_or_colour(
    make_workspace: Callable[..., Workspace], cli: Callable[..., Result], tmp_path: Path
) -> None:
    """With `diff.external` set, `strop report` embedded the user's diff program's output; with
    `color.ui=always`, `strop show --json` held escape sequences."""
    ws = make_workspace(value="0.1")
    run = _improved(ws)
    marker = tmp_path / "external-diff-ran"
    program = tmp_path / "difft.sh"
    program.write_text(f"#!/bin/sh\ntouch {marker}\necho EXTERNAL DIFF\n")
    program.chmod(0o755)
    git(ws.path, "config", "diff.external", str(program))
    git(ws.path, "config", "color.ui", "always")
    git(ws.path, "config", "color.diff", "always")
    records = run.repo.read_records(run.record.id)
    text = run.repo.diff(records[0].commit, records[1].commit)
    stat = run.repo.diff(records[0].commit, records[1].commit, stat=True)
    assert "-0.1" in text and "+0.9" in text and "EXTERNAL" not in text, text
    assert "\x1b" not in text + stat and "value.txt" in stat, stat
    shown = cli("show", f"{run.record.id}/1", "--json")
    assert shown.code == 0 and "\x1b" not in shown.stdout and "\\u001b" not in shown.stdout, shown.stdout
    assert not marker.exists()
