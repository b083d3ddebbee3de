"""A task file is a stranger's: none of its paths may show the machine's credentials.

Whatever a task names reaches candidates or the LLM's endpoint: `public = "~/.ssh"` printed the
ssh key into the run's log and the prompt, `private = "~/.ssh"` carried it there on a scorer's
error line, `workspace = "~/.docker"` sent the registry login in the workspace view, and
`[knowledge] sources = ["~/.pgpass", …]` quoted the database password to the endpoint. A task path
that is, holds or lies inside a credential location (`agent.secret_places`), the home folder or
`/` is refused when the task is loaded, in one line naming its line. `public` and `final_public`,
which candidates read, may not show strop's home or the private data either: `public` = another
run's evaluator folder printed that run's hidden answers, and `public` = strop's home never
finished copying itself.

Every test runs with `HOME` set to a fake home holding fake credentials.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.errors import TaskSpecError
from agent.task import load_task
from tests.spine.conftest import git, strop

TASK = """
[task]
name = "hostile"
goal = "make the score high"
workspace = "{workspace}"

[evaluator]
run = "python train.py"
score = "python score.py"
scorer = "scorer"
private = "{private}"
public = "{public}"
metric = "score"
direction = "maximize"
{extra}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake home with the usual credential files, as `$HOME` (what `~` in a task file means)."""
    home = tmp_path / "home" / "alice"
    files = {
        ".ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n",
        ".docker/config.json": '{"auths": {"r.example.com": {"auth": "Ym9iOmRvY2tlci1zZWNyZXQ="}}}\n',
        ".pgpass": "db.example.com:5432:prod:admin:Pg-s3cret\n",
        ".kube/config": "users:\n- name: a\n  user:\n    client-key-data: LS0tLS1CRUdJTg==\n",
        ".bash_history": "mysql -u root -pMy-mysql-pw prod\n",
        ".aws/credentials": "[default]\naws_secret_access_key = x\n",
        ".config/gcloud/credentials.db": "x",
        "data/train.csv": "1,2\n",
    }
    for name, text in files.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text)
    monkeypatch.setenv("HOME", str(home))
    return home


def _task(
    root: Path,
    *,
    workspace: str = "workspace",
    private: str = "private",
    public: str = "public",
    extra: str = "",
) -> Path:
    """A two-stage task with its own workspace, scorer, private and public data beside it."""
    for folder in ("workspace", "scorer", "private", "public"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "scorer" / "score.py").write_text("print('{\"score\": 1}')\n")
    if not (root / "workspace" / ".git").exists():
        (root / "workspace" / "train.py").write_text("print('trained')\n")
        git(root / "workspace", "init", "-q")
        git(root / "workspace", "add", "-A")
        git(root / "workspace", "commit", "-qm", "init")
    task = root / "task.toml"
    task.write_text(TASK.format(workspace=workspace, private=private, public=public, extra=extra))
    return task


def _line(task: Path, start: str) -> int:
    return next(n for n, line in enumerate(task.read_text().splitlines(), 1) if line.startswith(start))


def _refused(task: Path) -> TaskSpecError:
    with pytest.raises(TaskSpecError) as refused:
        load_task(task)
    return refused.value


@pytest.mark.parametrize(
    ("where", "value", "key", "said"),
    [
        ("public", "~/.ssh", "evaluator.public", "{home}/.ssh is where this machine keeps credentials"),
        ("public", "~/.ssh/id_ed25519", "evaluator.public", "lies inside {home}/.ssh"),
        ("private", "~/.ssh", "evaluator.private", "{home}/.ssh is where"),
        ("public", "~", "evaluator.public", "is your home folder, which holds your credentials"),
        ("public", "~/.config", "evaluator.public", "holds {home}/.config/gcloud"),
        ("public", "/", "evaluator.public", "holds "),
        ("workspace", "~/.docker", "task.workspace", "{home}/.docker is where"),
    ],
)
def test_a_task_path_showing_credentials_is_refused_naming_its_line(
    tmp_path: Path, home: Path, where: str, value: str, key: str, said: str
) -> None:
    task = _task(tmp_path / "t", **{where: value})
    error = _refused(task)
    assert error.key == key and error.line == _line(task, where), str(error)
    assert said.format(home=home.resolve()) in str(error), str(error)


@pytest.mark.parametrize(
    ("sources", "said"),
    [
        ('"~/.pgpass"', "~/.pgpass is where this machine keeps credentials"),
        ('"~/.docker"', "~/.docker is where"),
        ('"~/.kube/config"', "lies inside {home}/.kube"),
        ('"~/.bash_history"', "~/.bash_history is where"),
        ('"/etc"', "holds /etc/shadow"),
    ],
)
def test_a_knowledge_source_showing_credentials_is_refused(
    tmp_path: Path, home: Path, sources: str, said: str
) -> None:
    """Sources are quoted into the LLM's prompts: a named dot-file is ingested as it is."""
    task = _task(tmp_path / "t", extra=f"\n[knowledge]\nsources = [{sources}]\n")
    error = _refused(task)
    assert error.key == "knowledge.sources[0]" and error.line == _line(task, "sources"), str(error)
    assert said.format(home=home.resolve()) in str(error), str(error)


def test_a_mount_showing_credentials_is_refused(tmp_path: Path, home: Path) -> None:
    task = _task(tmp_path / "t", extra='mounts = ["~/data", "~/.aws"]\n')
    error = _refused(task)
    assert error.key == "evaluator.mounts[1]" and f"{home}/.aws is where" in str(error), str(error)


def test_a_link_to_a_credential_folder_is_refused(tmp_path: Path, home: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "shared").symlink_to(home / ".ssh")
    assert f"{home.resolve()}/.ssh is where" in str(_refused(_task(root, public="shared")))


def test_folders_inside_the_home_that_hold_no_credentials_are_accepted(tmp_path: Path, home: Path) -> None:
    task = _task(
        tmp_path / "t", public="~/data", extra='mounts = ["~/data"]\n\n[knowledge]\nsources = ["~/data"]\n'
    )
    assert load_task(task).trusted_sources().public == (home / "data").resolve()  # type: ignore[union-attr]


def test_public_may_not_show_strops_home_or_the_private_data(tmp_path: Path, home: Path) -> None:
    """Candidates read `public`: another run's kept evaluator folder there showed its hidden answers."""
    strop_home = Path(os.environ["STROP_HOME"]).resolve()
    other_run = strop_home / "runs" / "abc123" / "evaluator" / "trusted"
    other_run.mkdir(parents=True)
    root = tmp_path / "t"
    cases = [
        ("public", str(strop_home), f"holds {strop_home}, which candidates must not read"),
        ("public", str(other_run), f"lies inside {strop_home}, which candidates must not read"),
        ("public", "private", f"holds {(root / 'private').resolve()}, which candidates must not read"),
    ]
    for where, value, said in cases:
        error = _refused(_task(root, **{where: value}))
        assert error.key == "evaluator.public" and said in str(error), str(error)
    final = _refused(_task(root, extra=f'final_public = "{other_run}"\nfinal_private = "private"\n'))
    assert final.key == "evaluator.final_public" and f"lies inside {strop_home}" in str(final), str(final)


def test_the_scorers_folders_may_not_show_strops_home(tmp_path: Path, home: Path) -> None:
    """The scorer is the task file's code and what it prints reaches the verdict and the prompt:
    `private` around strop's home read other runs' hidden answers out through it."""
    strop_home = Path(os.environ["STROP_HOME"]).resolve()
    other_run = strop_home / "runs" / "abc123" / "evaluator" / "trusted"
    other_run.mkdir(parents=True)
    root = tmp_path / "t"
    for value, said in [
        (str(strop_home), f"holds {strop_home}, which the scorer must not read"),
        (str(other_run), f"lies inside {strop_home}, which the scorer must not read"),
    ]:
        error = _refused(_task(root, private=value))
        assert error.key == "evaluator.private" and said in str(error), str(error)
    final = _refused(_task(root, extra=f'final_private = "{other_run}"\n'))
    assert final.key == "evaluator.final_private" and f"lies inside {strop_home}" in str(final), str(final)


def test_a_task_strop_wrote_in_its_home_may_read_its_own_public_folder(tmp_path: Path, home: Path) -> None:
    """An MLE competition's task lives in strop's home, its public data beside it."""
    strop_home = Path(os.environ["STROP_HOME"])
    task = _task(strop_home / "mle" / "comp-s0")
    assert load_task(task).trusted_sources().public == (task.parent / "public").resolve()  # type: ignore[union-attr]
    sibling = strop_home / "mle" / "other-s0" / "private"
    sibling.mkdir(parents=True)
    error = _refused(_task(strop_home / "mle" / "comp-s0", public=str(sibling)))
    assert f"lies inside {strop_home.resolve()}" in str(error), str(error)


def test_the_cli_refuses_in_one_line_before_anything_runs(tmp_path: Path, home: Path) -> None:
    task = _task(tmp_path / "t", public="~/.ssh")
    result = strop("run", str(task))
    assert result.code == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        f"error: {task}:{_line(task, 'public')}: [evaluator.public] {home.resolve()}/.ssh is "
    )
    assert "Traceback" not in result.stderr and not (Path(os.environ["STROP_HOME"]) / "runs").exists()
