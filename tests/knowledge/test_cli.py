"""`strop knowledge …` and `strop memory …`: JSON hits, clear one-line errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from knowledge.embedder import HashingEmbedder, MiniLMEmbedder
from knowledge.memory import ExperimentTrace, Memory

REPO = Path(__file__).resolve().parents[2]


def _strop(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from agent.cli import main; sys.argv = ['strop', *sys.argv[1:]]; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_add_search_json_list_remove(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "oom.md").write_text("# Out of memory\nWhen the sandbox kills training, halve the batch size.\n")
    (docs / "seed.md").write_text("# Seeds\nFix numpy and torch seeds for reproducible runs.\n")
    runner = CliRunner()
    added = runner.invoke(app, ["knowledge", "add", str(docs), "--json"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["added"] == 2
    found = runner.invoke(app, ["knowledge", "search", "training was killed", "--json", "--k", "1"])
    [hit] = json.loads(found.stdout)
    assert hit["source"] == str(docs / "oom.md") and hit["location"] == "lines 1-2"
    assert hit["type"] == "reference" and hit["score"] > 0 and "halve the batch" in hit["text"]
    listed = json.loads(runner.invoke(app, ["knowledge", "list", "--json"]).stdout)
    assert sorted(s["source"] for s in listed) == [str(docs / "oom.md"), str(docs / "seed.md")]
    assert "removed 1" in runner.invoke(app, ["knowledge", "remove", str(docs / "seed.md")]).stdout


def test_remove_sticks_through_adding_the_parent_and_rebuild(
    isolated_home: Path, tmp_path: Path, minilm: MiniLMEmbedder
) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "oom.md").write_text("# Out of memory\nHalve the batch size.\n")
    (docs / "sub" / "seed.md").write_text("# Seeds\nFix numpy seeds.\n")
    runner = CliRunner()
    assert runner.invoke(app, ["knowledge", "add", str(docs)]).exit_code == 0
    assert runner.invoke(app, ["knowledge", "remove", str(docs / "sub")]).stdout == "removed 1 source file\n"
    again = runner.invoke(app, ["knowledge", "add", str(docs)])
    assert again.exit_code == 0 and "added 0," in again.stdout, again.output
    assert f"left out (removed earlier; add it by name to take it back): {docs / 'sub'}" in again.stderr
    rebuilt = _strop("knowledge", "rebuild")
    assert rebuilt.returncode == 0 and "added 1," in rebuilt.stdout, rebuilt.stderr
    listed = _strop("knowledge", "list", "--json")
    assert [s["source"] for s in json.loads(listed.stdout)] == [str(docs / "oom.md")], listed.stderr


def test_user_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = _strop("knowledge", "search", "anything")
    assert (
        missing.returncode == 2
        and "does not exist yet" in missing.stderr
        and "Traceback" not in missing.stderr
    )
    bad_type = _strop("knowledge", "search", "x", "--type", "wokflow")
    assert bad_type.returncode == 2 and "unknown entry type 'wokflow'" in bad_type.stderr
    forget = _strop("memory", "forget")
    assert forget.returncode == 2 and "pass --all" in forget.stderr


def test_corrupt_store_via_cli_names_the_rebuild_command(isolated_home: Path) -> None:
    store = isolated_home / "knowledge"
    store.mkdir(parents=True, exist_ok=True)
    (store / "manifest.json").write_text("{")
    done = _strop("knowledge", "list")
    assert done.returncode == 2 and "strop knowledge rebuild" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2  # one message (rich may wrap it once)


def test_memory_list_search_forget(isolated_home: Path, minilm: MiniLMEmbedder) -> None:
    memory = Memory.open(isolated_home / "knowledge" / "memory", embedder=minilm)
    memory.learn(
        ExperimentTrace("r1", "e1", "digits", "buggy", error_text="MemoryError: cannot allocate 8 GiB")
    )
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["memory", "list", "--json"]).stdout)
    assert [item["signature"] for item in listed] == ["MemoryError: cannot allocate <n> GiB"]
    found = json.loads(runner.invoke(app, ["memory", "search", "ran out of memory", "--json"]).stdout)
    assert found[0]["id"] == listed[0]["id"]
    assert "forgot 1" in runner.invoke(app, ["memory", "forget", listed[0]["id"]]).stdout
    assert Memory.open(memory.root, embedder=HashingEmbedder()).lessons() == []


def test_add_prints_a_line_per_skipped_file(
    isolated_home: Path, tmp_path: Path, minilm: MiniLMEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "users.md").write_text("# Users\nalice and bob\n")
    (docs / "weird.ipynb").write_text('{"cells": 3}')
    (docs / "empty.md").write_text("")
    (docs / "outdir").symlink_to(tmp_path)  # a folder link out of docs: not walked into, said so
    (tmp_path / "secret.md").write_text("# Secret\nnot for the store\n")
    (docs / "secret.md").symlink_to(tmp_path / "secret.md")
    added = CliRunner().invoke(app, ["knowledge", "add", str(docs)])
    assert added.exit_code == 0, added.output
    assert "added 1," in added.stdout
    assert [line for line in added.stderr.splitlines() if line] == [
        f"skipped (symlink to {tmp_path}, outside {docs}): {docs / 'outdir'}",
        f"skipped (symlink to {tmp_path / 'secret.md'}, outside {docs}): {docs / 'secret.md'}",
        f"skipped (not a Jupyter notebook: no list of cells): {docs / 'weird.ipynb'}",
        f"skipped 1 file with no text (empty): {docs / 'empty.md'}",
    ]


def test_search_shows_emoji_codes_verbatim_and_memory_says_no_hits(
    isolated_home: Path, tmp_path: Path, minilm: MiniLMEmbedder
) -> None:
    (tmp_path / "users.md").write_text("# Users :smile:\nroot:x:0:0:root:/root:/bin/bash\n")
    runner = CliRunner()
    assert runner.invoke(app, ["knowledge", "add", str(tmp_path / "users.md")]).exit_code == 0
    found = runner.invoke(app, ["knowledge", "search", "root:x:0:0", "--k", "1"])
    assert "root:x:0:0:root" in found.stdout and "Users :smile:" in found.stdout, found.stdout
    none = runner.invoke(app, ["memory", "search", "anything"])
    assert none.exit_code == 0 and none.stderr.strip() == "no hits"


def test_search_and_list_never_print_a_stored_escape_sequence(tmp_path: Path, minilm: MiniLMEmbedder) -> None:
    """A passage holding `ESC]0;…BEL ESC[2J` retitled and cleared the user's terminal through
    `strop knowledge search`; a file name holding ESC did the same through `list`."""
    docs = tmp_path / "docs"
    docs.mkdir()
    hostile = "# Out of memory\x1b]0;OWNED\x07\nHalve the batch size.\x1b[2J\x1b[31m red\n"
    (docs / "oom.md").write_text(hostile)
    (docs / "esc\x1b[31mname.md").write_text("# Seeds\nFix numpy seeds.\n")
    runner = CliRunner()
    assert runner.invoke(app, ["knowledge", "add", str(docs)]).exit_code == 0
    found = runner.invoke(app, ["knowledge", "search", "out of memory", "--k", "2"])
    listed = runner.invoke(app, ["knowledge", "list"])
    assert found.exit_code == 0 and listed.exit_code == 0, found.output + listed.output
    assert "Halve the batch size" in found.stdout and "name.md" in listed.stdout
    for shown in (found.output, listed.output):
        assert "\x1b" not in shown and "\x07" not in shown, repr(shown)
