"""`strop knowledge add|remove|rebuild` as a write: stopped by SIGTERM, waiting for another
writer, reporting unreadable files, taking back names as `list` shows them; and folder symlinks.

A SIGTERM killed an add at once, silently, its `writing.json` mark left behind; a second add
gave up after 60 s while the first was still writing; an add that could not read a file exited
0; `remove 'new\\nline.txt'`, as `list` shows the name, found no source; and a folder symlink
leading out of an added folder was dropped without the `skipped` line a file symlink gets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import knowledge.store
from agent.cli import app
from knowledge.embedder import HashingEmbedder
from knowledge.lock import writer_lock
from knowledge.sources import collect_files
from knowledge.store import KnowledgeStore

REPO = Path(__file__).resolve().parents[2]

_CLI = """
import sys, time, knowledge.store as s, knowledge.embedder as e
class Slow(e.HashingEmbedder):  # the real CLI, with a fast embedder slowed down to be caught writing
    def embed(self, texts):
        time.sleep(0.2)
        return super().embed(texts)
s.default_embedder = Slow
from agent.cli import main
sys.argv = ['strop', *sys.argv[1:]]
main()
"""


def _popen(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CLI, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _docs(folder: Path, files: int = 30) -> Path:
    folder.mkdir()
    for f in range(files):
        text = "".join(f"# Part {f}.{i}\nkernel{f} tile{i} words\n\n" for i in range(40))
        (folder / f"notes{f}.md").write_text(text)
    return folder


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_sigterm_during_add_stops_it_cleanly_with_the_ctrl_c_line(
    isolated_home: Path, tmp_path: Path
) -> None:
    docs = _docs(tmp_path / "docs")
    store = isolated_home / "knowledge"
    proc = _popen("knowledge", "add", str(docs))
    _wait_for(store / "writing.json")
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, stderr
    assert "interrupted after storing" in stderr and "`strop knowledge add` again to resume" in stderr
    assert not (store / "writing.json").exists()  # the write closed its files: no damage probe next time
    again = _popen("knowledge", "add", str(docs))
    assert again.wait(timeout=120) == 0, again.communicate()[1]


def test_a_second_add_waits_for_a_live_writer_and_names_it(isolated_home: Path, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\ntext\n")
    root = isolated_home / "knowledge"
    KnowledgeStore.open(root, embedder=HashingEmbedder()).close()
    said = (
        f"waiting for the store's writer (pid {os.getpid()}) to finish (another `strop knowledge` "
        "command or a run's ingest) …"
    )
    with writer_lock(root):
        proc = _popen("knowledge", "add", str(tmp_path / "a.md"))
        # the lock is held until the child says it waits (a fixed sleep lost the race on a loaded
        # machine, where the child's start-up outlasted it); a stuck child is killed, not waited on
        guard = threading.Timer(120, proc.kill)
        guard.start()
        assert proc.stderr is not None
        lines = iter(proc.stderr.readline, "")
        first = next((line.rstrip("\n") for line in lines if line.startswith("waiting for")), "")
        guard.cancel()
        assert first == said and proc.poll() is None  # still waiting
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert not [line for line in rest.splitlines() if line.startswith("waiting for")]  # said once


def test_a_dead_writer_does_not_hold_up_the_next_add(isolated_home: Path, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\ntext\n")
    root = isolated_home / "knowledge"
    KnowledgeStore.open(root, embedder=HashingEmbedder()).close()
    code = (
        "import os, signal; from pathlib import Path; from knowledge.lock import writer_lock\n"
        f"with writer_lock(Path({str(root)!r})): os.kill(os.getpid(), signal.SIGKILL)"
    )
    killed = subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=60)
    assert killed.returncode == -signal.SIGKILL and (root / "write.lock.pid").exists()  # a stale pid
    started = time.monotonic()
    proc = _popen("knowledge", "add", str(tmp_path / "a.md"))
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "waiting" not in stderr, stderr
    assert time.monotonic() - started < 30


@pytest.fixture
def hashing_cli(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setattr(knowledge.store, "default_embedder", HashingEmbedder)
    return CliRunner()


def test_an_unreadable_file_fails_the_add_but_a_policy_skip_does_not(
    hashing_cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.md").write_text("# OK\nreadable\n")
    (docs / "big.md").write_text("x" * 2_100_000)  # too big: skipped by policy
    (docs / "key.md").write_text("token: ghp_abcdefghijklmnopqrstuvwxyz0123456789\n")  # a credential
    done = hashing_cli.invoke(app, ["knowledge", "add", str(docs), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["unreadable"] == []

    (docs / "locked.md").write_text("# Locked\nsecret plans\n")
    read_bytes = Path.read_bytes

    def refusing(self: Path) -> bytes:
        if self.name == "locked.md":
            raise PermissionError(13, os.strerror(13), str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refusing)
    failed = hashing_cli.invoke(app, ["knowledge", "add", str(docs), "--json"])
    assert failed.exit_code == 1, failed.output
    data = json.loads(failed.stdout)
    assert data["unreadable"] == [str(docs / "locked.md")]
    assert data["errors"] == [f"{docs / 'locked.md'}: Permission denied"]
    text = hashing_cli.invoke(app, ["knowledge", "add", str(docs)])
    assert text.exit_code == 1 and f"not ingested: {docs / 'locked.md'}: Permission denied" in text.stderr


def test_remove_takes_a_name_as_list_shows_it(hashing_cli: CliRunner, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "new\nline.md").write_text("# Odd\nname\n")
    (docs / "plain.md").write_text("# Plain\nname\n")
    assert hashing_cli.invoke(app, ["knowledge", "add", str(docs)]).exit_code == 0
    listed = hashing_cli.invoke(app, ["knowledge", "list"]).stdout
    shown = str(docs / "new\\nline.md")
    assert shown in listed
    removed = hashing_cli.invoke(app, ["knowledge", "remove", shown])
    assert removed.exit_code == 0 and "removed 1 source file" in removed.stdout, removed.output
    left = json.loads(hashing_cli.invoke(app, ["knowledge", "list", "--json"]).stdout)
    assert [s["source"] for s in left] == [str(docs / "plain.md")]
    missing = hashing_cli.invoke(app, ["knowledge", "remove", str(docs / "gone\\tfile.md")])
    assert "holds no source" in str(missing.exception)  # a UserError: one line, exit 2 from `main`
    for odd in ("\\x00", "\\ud800", "\\UFFFFFFFF", "\\U00110000"):  # no file name holds these
        refused = hashing_cli.invoke(app, ["knowledge", "remove", str(docs / f"kdoc{odd}")])
        assert "holds no source" in str(refused.exception), (odd, refused.exception)


def test_a_folder_symlink_leading_out_is_skipped_with_a_reason(tmp_path: Path) -> None:
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "sub" / "a.md").write_text("# A\n")
    (docs / "out").symlink_to(outside, target_is_directory=True)
    (docs / "again").symlink_to(docs / "sub", target_is_directory=True)  # inside: walked anyway
    collected = collect_files(docs)
    assert collected.files == [docs / "sub" / "a.md"]
    assert collected.skipped == [(str(docs / "out"), f"symlink to {outside}, outside {docs}")]
    subprocess.run(["git", "init", "-q", str(docs)], check=True)
    subprocess.run(["git", "-C", str(docs), "add", "-A"], check=True)
    in_git = collect_files(docs)  # git lists a folder symlink as one entry
    assert in_git.files == [docs / "sub" / "a.md"]
    assert in_git.skipped == [(str(docs / "out"), f"symlink to {outside}, outside {docs}")]
