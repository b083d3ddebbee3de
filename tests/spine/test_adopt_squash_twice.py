"""`strop adopt RUN/N --squash` a second time: nothing to adopt, and no commit.

A squash never moves the merge base that adopt compares the experiment with, so the second
`--squash` of the same experiment got past the "nothing to adopt" check, and its commit was
made with `--allow-empty`: an empty commit "strop: adopt … (squashed)", reported as
"merged … (squashed)" with exit 0.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.spine.conftest import Result, Workspace, git
from tests.spine.test_user_git_setups import _improved, _state


def test_a_second_squash_of_the_same_experiment_adopts_nothing(
    make_workspace: Callable[..., Workspace], cli: Callable[..., Result]
) -> None:
    ws = make_workspace(value="0.1")
    run = _improved(ws)
    first = cli("adopt", f"{run.record.id}/1", "--squash")
    assert first.code == 0 and "(squashed)" in first.stdout, first.stdout + first.stderr
    assert (ws.path / "value.txt").read_text() == "0.9"
    before = _state(ws.path)
    again = cli("adopt", f"{run.record.id}/1", "--squash")
    words = " ".join(again.stdout.split())
    assert again.code == 0, again.stderr
    assert f"nothing to adopt: strop/{run.record.id}/1" in words and "changes nothing in main" in words, words
    assert "merged" not in words, words
    assert _state(ws.path) == before  # no new commit, nothing staged, no SQUASH_MSG left
    subjects = git(ws.path, "log", "--format=%s").splitlines()
    assert sum("(squashed)" in subject for subject in subjects) == 1, subjects
