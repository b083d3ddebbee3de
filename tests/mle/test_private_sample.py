"""A sample submission in prepared/private (or the answers themselves) is refused in one line.

The sample submission is copied to every candidate as public/…/sample_submission.csv: one that
config.yaml points into prepared/private, or that is the answers file through a link, handed the
answers to every experiment.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from agent.domains.mle.competition import CompetitionError, load_competition
from tests.mle.conftest import strop_mle, write_competition
from tests.mle.test_run_refusals import diabetes


def sample_at(tmp_path: Path, sample: str) -> Path:
    return write_competition(
        tmp_path / "c",
        config_extra=(
            f"dataset:\n  answers: tiny-accuracy/prepared/private/answers.csv\n  sample_submission: {sample}\n"
        ),
    )


def test_a_sample_submission_that_is_the_answers_is_refused(tmp_path: Path) -> None:
    root = sample_at(tmp_path, "tiny-accuracy/prepared/private/answers.csv")
    with pytest.raises(CompetitionError, match="the sample submission is the answers") as refused:
        load_competition(root)
    assert "prepared/public" in str(refused.value) and "\n" not in str(refused.value)


def test_any_sample_submission_in_prepared_private_is_refused(tmp_path: Path) -> None:
    root = sample_at(tmp_path, "prepared/private/sample.csv")
    shutil.copy(
        root / "prepared" / "public" / "sample_submission.csv", root / "prepared" / "private" / "sample.csv"
    )
    with pytest.raises(CompetitionError, match="the sample submission is in prepared/private"):
        load_competition(root)


def test_a_public_sample_submission_linked_to_the_answers_is_refused(tmp_path: Path) -> None:
    root = write_competition(tmp_path / "c")
    sample = root / "prepared" / "public" / "sample_submission.csv"
    sample.unlink()
    sample.symlink_to(Path("..") / "private" / "answers.csv")
    with pytest.raises(CompetitionError, match="the sample submission is the answers"):
        load_competition(root)


def test_a_hard_link_to_the_answers_is_refused_too(tmp_path: Path) -> None:
    root = write_competition(tmp_path / "c")
    sample = root / "prepared" / "public" / "sample_submission.csv"
    sample.unlink()
    os.link(root / "prepared" / "private" / "answers.csv", sample)
    with pytest.raises(CompetitionError, match="the sample submission is the answers"):
        load_competition(root)


def test_a_public_sample_submission_named_in_config_loads(tmp_path: Path) -> None:
    root = sample_at(tmp_path, "tiny-accuracy/prepared/public/sample_submission.csv")
    assert load_competition(root).sample_submission == root / "prepared" / "public" / "sample_submission.csv"


def test_mle_run_refuses_a_private_sample_submission_in_one_line(tmp_path: Path) -> None:
    """On a real competition (strop-diabetes) whose config names its answers as the sample."""
    root = diabetes(tmp_path)
    config = root / "config.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("prepared/public/sample_submission.csv", "prepared/private/test.csv"), encoding="utf-8"
    )
    out = tmp_path / "w"
    done = strop_mle(tmp_path / "h", "run", str(root), "--time", "25s", "-n", "1", "--out", str(out))
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("\n") == 1 and "the sample submission is the answers" in done.stderr, done.stderr
    assert not out.exists()
