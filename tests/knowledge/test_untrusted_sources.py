"""A source folder is someone else's: its git config, its dot-files and its credentials.

`strop knowledge add` of a cloned repo ran the command its `.git/config` names in
`core.fsmonitor` (git ls-files asks that hook what changed); a git source's tracked `.env` was
ingested though the plain folder walk leaves dot-files out; and a private key or an
`OPENAI_API_KEY=sk-…` line went into the store, and from there into LLM prompts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.embedder import HashingEmbedder
from knowledge.manifest import IngestReport
from knowledge.sources import collect_files
from knowledge.store import KnowledgeStore

REPO = Path(__file__).resolve().parents[2]
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
ENV_KEY = "sk-proj-WorkspaceSecretQwErTy98765zz"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True, capture_output=True
    )


def _hostile_repo(root: Path) -> tuple[Path, Path]:
    """A committed repo whose own config names a command as its fsmonitor hook; the file that
    command would create (it fails, so git falls back to listing the files itself)."""
    repo = root / "cloned"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / "docs").mkdir()
    (repo / "a.md").write_text("# Tuning\nHalve the learning rate when the loss diverges.\n")
    (repo / "docs" / "b.md").write_text("# Seeds\nFix the seeds.\n")
    (repo / "docs" / ".draft.md").write_text("# Draft\nnot for the store\n")
    (repo / ".env").write_text(f"OPENAI_API_KEY={ENV_KEY}\n")
    (repo / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (repo / "deploy_key").write_text(PEM)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "init")
    ran = root / "FSMONITOR_RAN"
    _git(repo, "config", "core.fsmonitor", f"touch {ran}; false")
    return repo, ran


def _skipped(report: IngestReport) -> dict[str, str]:
    return {Path(path).name: reason for path, reason in report.unsupported}


def test_listing_a_repo_runs_no_command_its_config_names(tmp_path: Path) -> None:
    repo, ran = _hostile_repo(tmp_path)
    listed = collect_files(repo)
    assert not ran.exists(), "git ran the repo's core.fsmonitor command"
    assert [f.relative_to(repo).as_posix() for f in listed.files] == ["a.md", "deploy_key", "docs/b.md"]


def test_dot_files_are_left_out_of_a_git_repo_as_out_of_a_plain_folder(tmp_path: Path) -> None:
    """Tracked by git or not, `.env`, `.github/` and `docs/.draft.md` stay out; named alone, one is in."""
    repo, _ = _hostile_repo(tmp_path)
    plain = tmp_path / "plain"
    subprocess.run(["cp", "-r", str(repo), str(plain)], check=True)
    subprocess.run(["rm", "-rf", str(plain / ".git")], check=True)
    in_repo = [f.relative_to(repo) for f in collect_files(repo).files]
    in_plain = [f.relative_to(plain) for f in collect_files(plain).files]
    assert in_repo == in_plain == [Path("a.md"), Path("deploy_key"), Path("docs/b.md")]
    assert collect_files(repo / "docs" / ".draft.md").files == [repo / "docs" / ".draft.md"]


def test_the_callers_git_dir_does_not_point_the_listing_at_another_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """strop run from a git hook inherits GIT_DIR: `git -C folder ls-files` then listed that repo."""
    repo, _ = _hostile_repo(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "elsewhere.md").write_text("# Elsewhere\n")
    _git(other, "init", "-q")
    _git(other, "add", "-A")
    _git(other, "commit", "-qm", "init")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert [f.name for f in collect_files(repo).files] == ["a.md", "deploy_key", "b.md"]


def test_files_holding_a_credential_are_skipped_with_a_reason_even_named_alone(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tips.md").write_text("# Tips\nSet `api_key_env` to the variable holding your key.\n")
    (docs / "id_ed25519").write_text(PEM)
    (docs / "settings.py").write_text(f'import os\n\nOPENAI_API_KEY = "{ENV_KEY}"\n')
    (docs / "deploy.yml").write_text("aws:\n  access_key_id: AKIAZ3MSJ7QK2LWXP4BD\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    report = store.add([docs])
    assert report.added == 1
    assert _skipped(report) == {
        name: "holds a credential" for name in ("id_ed25519", "settings.py", "deploy.yml")
    }
    assert [s.source for s in store.list_sources()] == [str(docs / "tips.md")]
    assert _skipped(store.add([docs / "id_ed25519"])) == {"id_ed25519": "holds a credential"}
    assert [s.source for s in store.list_sources()] == [str(docs / "tips.md")]


def test_a_file_that_gains_a_credential_leaves_the_store(tmp_path: Path, hashing: HashingEmbedder) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Runs\nThe server answers on port 8080.\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    assert store.add([notes]).added == 1
    notes.write_text(f"# Runs\nThe server answers on port 8080.\n\n    export HF_TOKEN=hf_{'aB3' * 11}x\n")
    report = store.add([notes])
    assert _skipped(report) == {"notes.md": "holds a credential"} and report.removed == 1
    assert store.list_sources() == []
    assert not any("hf_" in hit.text for hit in store.search("HF_TOKEN server port", k=5))


def test_strop_knowledge_add_of_a_hostile_clone(tmp_path: Path) -> None:
    """The real command, with the shipped model: no hook ran, no dot-file, the key skipped aloud."""
    repo, ran = _hostile_repo(tmp_path)
    code = "import sys; from agent.cli import main; sys.argv = ['strop', *sys.argv[1:]]; main()"
    env = {"STROP_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, "knowledge", "add", str(repo)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not ran.exists(), "git ran the repo's core.fsmonitor command"
    assert "added 2," in done.stdout, done.stdout
    assert f"skipped (holds a credential): {repo / 'deploy_key'}" in done.stderr.splitlines(), done.stderr
    assert ".env" not in done.stdout + done.stderr


def test_tokens_no_keyword_announces_keep_their_files_out_of_the_store(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    """A Hugging Face token passed to `login(…)` in a notebook, a bearer token in a curl line and a
    service account's key file: none sits after a keyword detect-secrets looks for."""
    docs = tmp_path / "docs"
    docs.mkdir()
    token = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    cell = {"cell_type": "code", "source": [f'from huggingface_hub import login\nlogin("{token}")'],
            "metadata": {}, "execution_count": 1, "outputs": []}  # fmt: skip
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (docs / "train.ipynb").write_text(json.dumps(notebook))
    (docs / "api.md").write_text('# API\n\n    curl -H "Authorization: Bearer abcDEF1234567890ghiJKL" $URL\n')
    key_id = "0123456789abcdef0123456789abcdef01234567"
    (docs / "sa.json").write_text(f'{{"type": "service_account", "private_key_id": "{key_id}"}}\n')
    (docs / "tips.md").write_text("# Tips\nLog in to the Hub with `huggingface-cli login` first.\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    report = store.add([docs])
    assert _skipped(report) == {name: "holds a credential" for name in ("train.ipynb", "api.md", "sa.json")}
    assert [s.source for s in store.list_sources()] == [str(docs / "tips.md")]
