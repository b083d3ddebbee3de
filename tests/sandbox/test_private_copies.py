"""The run's copies of a task's private answers and scorer are the user's alone, and the sandboxes
still read them.

strop made its home 0755 (umask 022) and copied the private answers in at 0644: any local user
read another's validation labels and scorer under `~/.strop/runs/RUN/evaluator/trusted/`. Now
a home strop makes is 0700, each run's folder is 0700 whatever the home's mode, the trusted
store is 0700, and its private data too where the sandbox runs as the user.

Real `strop eval`s of a two-stage task on docker and bwrap, as root and (root only) as a real
non-root user in the docker group; "another user" is a real uid (nobody, through setpriv).
"""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.support import require_backend

HELPER = Path(__file__).with_name("nonroot.py")
STROP = Path(sys.executable).parent / "strop"
NOBODY = 65534

TASK = """
[task]
name = "private-copy"
goal = "g"
workspace = "workspace"

[evaluator]
run = "python run.py"
score = "python -I score.py"
scorer = "scorer"
private = "private"
final_private = "final"
metric = "score"
direction = "maximize"
timeout = "60s"
sandbox = "{backend}"
"""
FILES = {
    "workspace/run.py": (
        "import os\nopen(os.path.join(os.environ['STROP_OUTPUTS'], 'guess.txt'), 'w').write('7')\n"
    ),
    "scorer/score.py": (
        "import json, os\n"
        "guess = open(os.path.join(os.environ['STROP_OUTPUTS'], 'guess.txt')).read()\n"
        "answer = open(os.path.join(os.environ['STROP_PRIVATE'], 'answer.txt')).read()\n"
        "print(json.dumps({'score': float(guess == answer)}))\n"
    ),
    "private/answer.txt": "7",
    "final/answer.txt": "7",
}


def _task(root: Path, backend: str) -> Path:
    """A two-stage task whose score is 1 only if the scorer read the private answer."""
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "private" / "answer.txt").chmod(0o600)  # the user keeps it to themselves
    (root / "task.toml").write_text(TASK.format(backend=backend))
    return root / "task.toml"


def _open_folder() -> Path:
    """A fresh folder any user may walk into (pytest's own are 0700: they would hide what strop leaves open)."""
    folder = Path(tempfile.mkdtemp(prefix="strop-private-copy-"))
    folder.chmod(0o755)
    return folder


def _scored(done: subprocess.CompletedProcess[str]) -> None:
    said = " ".join(done.stdout.split())
    assert done.returncode == 0 and ": ok score = 1" in said, done.stdout + done.stderr


def _store(home: Path) -> Path:
    (store,) = home.glob("runs/*/evaluator/trusted")
    return store


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _others_cannot_read(home: Path) -> None:
    """The run's copies are closed to other users: by mode, and (as root) to a real other uid."""
    store = _store(home)
    assert _mode(store.parent.parent) == 0o700 and _mode(store) == 0o700
    if os.getuid() != 0:
        assert _mode(store / "private") == 0o700
        return
    for copy in (store / "private" / "answer.txt", store / "scorer" / "score.py"):
        tried = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "cat", str(copy)],
            capture_output=True,
            text=True,
        )
        assert tried.returncode != 0 and "Permission denied" in tried.stderr, (copy, tried.stdout)


def _runs(home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STROP_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "runs"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done


def test_strop_makes_its_home_private_and_closes_one_others_could_enter() -> None:
    """A home an older strop (or the user) made 0755 stayed open: the index, the knowledge store
    and memory were any local user's to read. Closed at start, said in one line, once."""
    folder = _open_folder()
    try:
        made, mine = folder / "deep" / "home", folder / "mine"
        mine.mkdir(mode=0o755)
        assert _runs(made).stderr == ""
        assert _mode(made) == 0o700 and _mode(made.parent) == 0o777 & ~_umask()
        said = _runs(mine).stderr
        assert (
            said == f"strop: closed STROP_HOME {mine} to other users (mode 0755 -> 0700): it holds run "
            "records, logs and the model's replies\n"
        ), said
        assert _mode(mine) == 0o700
        assert _runs(mine).stderr == ""  # private now: nothing more to say
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("kind", ["shared", "others_files", "symlink_to_shared"])
def test_a_folder_that_is_not_strops_alone_keeps_its_mode(kind: str) -> None:
    """`STROP_HOME=/tmp` (sticky, writable by anyone) closed /tmp to every other user, and a folder
    of the user's (their home, a project) was closed too: only strop's home alone is closed; these
    are left as they are, with one line saying others may read what strop puts there."""
    folder = _open_folder()
    try:
        target = folder / "target"
        target.mkdir()
        target.chmod(0o1777 if kind != "others_files" else 0o755)
        if kind == "others_files":
            (target / "notes.txt").write_text("the user's\n")
        home = target
        if kind == "symlink_to_shared":
            home = folder / "link"
            home.symlink_to(target)
        before = _mode(target) | (target.stat().st_mode & 0o7000)
        for _ in range(2):  # the second sees strop's index in it: still not strop's alone
            said = _runs(home).stderr
            assert said.count("\n") == 1 and "so other users may read" in said, said
            assert "folder of its own" in said and "closed" not in said
        assert _mode(target) | (target.stat().st_mode & 0o7000) == before
    finally:
        shutil.rmtree(folder)


def test_a_home_holding_what_strop_set_aside_is_still_strops() -> None:
    """A damaged index or knowledge store moved aside (`strop reindex`, a rebuild) is strop's too:
    such a home was left open, told to use a folder of its own (it was one)."""
    folder = _open_folder()
    try:
        home = folder / "home"
        home.mkdir(mode=0o755)
        for name in ("index.sqlite", "index.damaged-2026-12-05T080000Z.sqlite", "repos.txt.partial"):
            (home / name).write_bytes(b"")
        for name in ("runs", "knowledge", "knowledge.broken-20261205-080000"):
            (home / name).mkdir()
        said = _runs(home).stderr
        assert said.startswith(f"strop: closed STROP_HOME {home} to other users"), said
        assert _mode(home) == 0o700
    finally:
        shutil.rmtree(folder)


def test_a_home_holds_only_what_strop_keeps_there(tmp_path: Path) -> None:
    """A run, an eval and the knowledge store leave only `ENTRIES` at the top of the home: a new
    folder strop made there would read as a user's file, and an old open home would stay open."""
    from agent.home import ENTRIES

    home = tmp_path / "home"
    task = _task(tmp_path / "task", "bwrap")
    env = {**os.environ, "STROP_HOME": str(home)}
    for args in (["eval", str(task)], ["knowledge", "list"], ["memory", "list"], ["runs"]):
        subprocess.run([sys.executable, "-m", "agent.cli", *args], env=env, capture_output=True, timeout=300)
    names = {entry.name for entry in home.iterdir()}
    assert {"runs", "repos", "index.sqlite"} <= names <= ENTRIES, names - ENTRIES


def test_a_home_another_user_owns_is_left_as_it_is_and_said_once() -> None:
    if os.getuid() != 0:
        pytest.skip("needs root: gives the home to another user")
    folder = _open_folder()
    try:
        theirs = folder / "theirs"
        theirs.mkdir(mode=0o755)
        os.chown(theirs, NOBODY, NOBODY)
        said = _runs(theirs).stderr
        assert said.count("\n") == 1 and said.startswith(
            f"strop: STROP_HOME {theirs} belongs to uid {NOBODY}"
        ), said
        assert "left at mode 0755, so other users may read" in said
        assert _mode(theirs) == 0o755 and theirs.stat().st_uid == NOBODY
    finally:
        shutil.rmtree(folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("backend", ["docker", "bwrap"])
@pytest.mark.parametrize("home_by", ["strop", "user"])
def test_a_run_s_private_copies_are_closed_to_other_users_and_read_by_the_scorer(
    backend: str, home_by: str
) -> None:
    """`user`: a home the user made 0755 (or an older strop did): the run's own folder closes it."""
    require_backend(backend)
    folder = _open_folder()
    try:
        task = _task(folder / "task", backend)
        home = folder / "home"
        if home_by == "user":
            home.mkdir(mode=0o755)
        env = {**os.environ, "STROP_HOME": str(home)}
        done = subprocess.run(
            [sys.executable, "-m", "agent.cli", "eval", str(task)], env=env, capture_output=True, text=True
        )
        _scored(done)
        _others_cannot_read(home)
    finally:
        shutil.rmtree(folder)


@pytest.fixture(scope="module")
def docker_user() -> Iterator[str]:
    """A real non-root user in the docker group (root only)."""
    if os.getuid() != 0:
        pytest.skip("needs root: makes a user to run strop as (as a normal user, the tests above are that)")
    name = f"strop-p{os.getpid()}"
    groups = ["-G", "docker"] if _has_group("docker") else []
    subprocess.run(["useradd", "--user-group", "--no-create-home", *groups, name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


@pytest.mark.parametrize("backend", ["docker", "bwrap"])
def test_a_normal_user_s_scorer_reads_its_private_copy(docker_user: str, backend: str) -> None:
    """The sandbox runs as the user there (docker's --user, bwrap's user namespace): a 0700 folder
    of the user's is theirs to read."""
    require_backend(backend)
    folder = _open_folder()
    try:
        task = _task(folder / "task", backend)
        for path in [folder, *folder.rglob("*")]:
            shutil.chown(path, docker_user, docker_user)
        home = folder / "home"
        done = subprocess.run(
            [sys.executable, str(HELPER), docker_user, "plain", "--", str(STROP), "eval", str(task)],
            env={"STROP_HOME": str(home), "PATH": os.environ["PATH"]},
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
        )
        _scored(done)
        store = _store(home)
        assert _mode(home) == 0o700 and _mode(store) == 0o700 and _mode(store / "private") == 0o700
        _others_cannot_read(home)
    finally:
        shutil.rmtree(folder)
