"""Reading a competition folder in MLE-bench's layout, and one clear line for each thing wrong with it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.domains.mle.competition import CompetitionError, load_competition
from agent.errors import UserError
from tests.mle.conftest import write_competition


def test_a_complete_folder_loads_with_its_metric_and_direction(competition_dir: Path) -> None:
    competition = load_competition(competition_dir)
    assert competition.id == "tiny-accuracy"
    assert competition.metric is not None and competition.metric.name == "accuracy"
    assert competition.lower_is_better is False
    assert competition.answers == competition_dir / "prepared" / "private" / "answers.csv"
    assert competition.id_column == "id" and competition.columns == ("id", "label")
    assert len(competition.leaderboard.scores) == 10


def test_a_lower_is_better_metric_sets_the_direction(tmp_path: Path) -> None:
    competition = load_competition(write_competition(tmp_path / "c", metric="rmse"))
    assert competition.lower_is_better is True


def test_mle_bench_dataset_paths_that_start_with_the_id_resolve_inside_the_folder(tmp_path: Path) -> None:
    root = write_competition(
        tmp_path / "c",
        config_extra=(
            "dataset:\n  answers: tiny-accuracy/prepared/private/answers.csv\n"
            "  sample_submission: tiny-accuracy/prepared/public/sample_submission.csv\n"
        ),
    )
    (root / "prepared" / "private" / "other.csv").write_text("id,label\n", encoding="utf-8")
    competition = load_competition(root)
    assert competition.answers == root / "prepared" / "private" / "answers.csv"


def test_an_unknown_metric_with_a_grade_py_takes_the_direction_from_the_leaderboard(tmp_path: Path) -> None:
    grade = "def grade(submission, answers):\n    return 1.0\n"
    rising = write_competition(
        tmp_path / "a", metric="custom-distance", grade_py=grade, leaderboard=[1, 2, 3]
    )
    assert load_competition(rising).lower_is_better is True
    falling = write_competition(
        tmp_path / "b", metric="custom-distance", grade_py=grade, leaderboard=[3, 2, 1]
    )
    assert load_competition(falling).lower_is_better is False


def test_the_config_may_state_the_direction_of_a_custom_grader(tmp_path: Path) -> None:
    root = write_competition(
        tmp_path / "c",
        metric="custom",
        grade_py="def grade(s, a):\n    return 0.0\n",
        leaderboard=[3, 2, 1],
        config_extra="  lower_is_better: true\n",
    )
    assert load_competition(root).lower_is_better is True


def broken(tmp_path: Path, how: str) -> Path:
    """A competition folder with one thing wrong."""
    root = write_competition(tmp_path / "c")
    if how == "no config":
        (root / "config.yaml").unlink()
    elif how == "bad yaml":
        (root / "config.yaml").write_text("id: [unclosed\ngrader: {name: accuracy}\n", encoding="utf-8")
    elif how == "not a mapping":
        (root / "config.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    elif how == "no id":
        (root / "config.yaml").write_text("grader:\n  name: accuracy\n", encoding="utf-8")
    elif how == "no grader":
        (root / "config.yaml").write_text("id: x\n", encoding="utf-8")
    elif how == "unknown metric":
        (root / "config.yaml").write_text("id: x\ngrader:\n  name: telepathy\n", encoding="utf-8")
    elif how == "no description":
        (root / "description.md").unlink()
    elif how == "no private":
        shutil.rmtree(root / "prepared" / "private")
    elif how == "two answers":
        (root / "prepared" / "private" / "more.csv").write_text("id,label\n", encoding="utf-8")
    elif how == "no sample":
        (root / "prepared" / "public" / "sample_submission.csv").unlink()
    elif how == "no leaderboard":
        (root / "leaderboard.csv").unlink()
    elif how == "escaping path":
        with (root / "config.yaml").open("a", encoding="utf-8") as handle:
            handle.write("dataset:\n  answers: ../../etc/passwd\n")
    elif how == "contradiction":
        with (root / "config.yaml").open("a", encoding="utf-8") as handle:
            handle.write("  lower_is_better: true\n")
    return root


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("no config", "config.yaml: missing"),
        ("bad yaml", "config.yaml:2: not valid YAML"),
        ("not a mapping", "must be a YAML mapping"),
        ("no id", "[id] is missing"),
        ("no grader", "[grader] needs a `name`"),
        ("unknown metric", "unknown metric 'telepathy' and no grade.py (known: accuracy,"),
        ("no description", "description.md: missing"),
        ("no private", "private: missing"),
        ("two answers", "found 2 CSV files"),
        ("no sample", "sample_submission.csv: missing"),
        ("no leaderboard", "leaderboard.csv: missing"),
        ("escaping path", "[dataset.answers] must be a path inside the folder"),
        ("contradiction", "contradicts the metric 'accuracy'"),
    ],
)
def test_a_broken_folder_is_one_clear_line(tmp_path: Path, how: str, says: str) -> None:
    with pytest.raises(UserError) as caught:
        load_competition(broken(tmp_path, how))
    message = str(caught.value)
    assert says in message, message
    assert "\n" not in message


def test_a_missing_folder_is_a_competition_error(tmp_path: Path) -> None:
    with pytest.raises(CompetitionError, match="no such competition folder"):
        load_competition(tmp_path / "nowhere")
