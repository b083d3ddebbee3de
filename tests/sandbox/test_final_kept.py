"""The final phase grades the chosen candidate's kept selection outputs when its own run cannot.

The candidate reads `rows.txt` from $STROP_PUBLIC, naps as the file says (`nap`: 3 s,
`slow`: 60 s; `crash` fails at once), and writes how many rows it saw plus its own `BONUS`; the scorer prints that
number and the length of the answers it was given. So a final score says which outputs were
graded (the refit saw 6 rows, the selection run 4) and with which answers (the final's: 5).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from evaluators.outputs import MANIFEST
from evaluators.staged import GRADED, KEPT, StagedEvaluator
from evaluators.verdict import Status
from tests.sandbox.support import final_phase_evaluator

RUN = """
import os, sys, time
from pathlib import Path
BONUS = 0
rows = (Path(os.environ["STROP_PUBLIC"]) / "rows.txt").read_text().split()
if "crash" in rows:
    sys.exit("the refit does not fit")
time.sleep(60 if "slow" in rows else 3 if "nap" in rows else 0)
(Path(os.environ["STROP_OUTPUTS"]) / "seen.txt").write_text(str(len(rows) + BONUS))
"""

SCORE = """
import json, os, sys
from pathlib import Path
seen = (Path(os.environ["STROP_OUTPUTS"]) / "seen.txt").read_text()
answers = (Path(os.environ["STROP_PRIVATE"]) / "answers.txt").read_text()
print(json.dumps({"rows": int(seen), "answers": len(answers)}))
"""


def evaluator(tmp_path: Path, final_rows: str = "a b c nap e slow", folds: int = 1) -> StagedEvaluator:
    files = {
        "work/run.py": RUN,
        "scorer/score.py": SCORE,
        "final_public/rows.txt": final_rows,
        "private/answers.txt": "v",
        "final_private/answers.txt": "final",
    }
    if folds > 1:
        files |= {f"public/fold-{k}/rows.txt": "a b c nap" + " x" * k for k in range(folds)}
        files |= {f"private/fold-{k}/answers.txt": "v" for k in range(folds)}
    else:
        files["public/rows.txt"] = "a b c nap"
    return final_phase_evaluator(tmp_path, files, folds=folds)


def candidate(tmp_path: Path, name: str, bonus: int, extra: str = "") -> Path:
    """Another candidate: the same program with its own `BONUS` (a better score) and `extra` code."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "run.py").write_text(RUN.replace("BONUS = 0", f"BONUS = {bonus}") + extra)
    return folder


def kept_entries(tmp_path: Path) -> list[Path]:
    root = tmp_path / "run" / KEPT
    return sorted(path for path in root.iterdir() if (path / MANIFEST).is_file()) if root.is_dir() else []


def test_a_refit_with_no_time_is_graded_from_the_kept_selection_outputs(tmp_path: Path) -> None:
    """8 s left: the refit (60 s) cannot finish, nor can a rerun as selected (3 s nap, plus
    sandbox start-up, after the refit's share). The selection run's outputs are graded."""
    judge = evaluator(tmp_path)
    selected = judge.evaluate(tmp_path / "work", "0")
    assert selected.status is Status.OK and selected.metrics["rows"] == 4.0
    started = time.time()
    final = judge.evaluate(tmp_path / "work", "0", phase="final", deadline=started + 8)
    assert final.status is Status.OK, final.reason
    assert final.metrics == {"rows": 4.0, "answers": 5.0}  # the selection run's outputs, the final answers
    assert time.time() - started < 8
    assert judge.graded.startswith(f"{GRADED}: the outputs of experiment 0's selection run")
    assert "not the refit on the final phase's public data" in judge.graded
    log = Path(final.log_path).read_text()
    assert "graded the outputs kept from experiment 0's selection run" in log and judge.graded in log
    assert not kept_entries(tmp_path)  # spent with the final verdict


def test_a_refit_cut_by_the_deadline_leaves_time_to_grade_the_kept_outputs(tmp_path: Path) -> None:
    """20 s left: the refit starts, is cut where the time kept for grading begins, then the grade."""
    judge = evaluator(tmp_path)
    assert judge.evaluate(tmp_path / "work", "0").status is Status.OK
    started = time.time()
    final = judge.evaluate(tmp_path / "work", "0", phase="final", deadline=started + 20)
    assert final.status is Status.OK and final.metrics == {"rows": 4.0, "answers": 5.0}
    assert 10 <= time.time() - started < 20
    assert "stopped by the run's time budget" in judge.graded
    assert "# the refit on the final phase's public data gave no verdict" in Path(final.log_path).read_text()


def test_a_refit_that_finishes_is_what_is_graded(tmp_path: Path) -> None:
    judge = evaluator(tmp_path, final_rows="a b c d e f")
    assert judge.evaluate(tmp_path / "work", "0").status is Status.OK
    final = judge.evaluate(tmp_path / "work", "0", phase="final", deadline=time.time() + 30)
    assert final.status is Status.OK and final.metrics == {"rows": 6.0, "answers": 5.0}
    assert judge.graded == f"{GRADED}: the refit on the final phase's public data"


def test_a_short_final_phase_still_starts_the_refit(tmp_path: Path) -> None:
    """5 s left (a 15 s `--time` keeps a third for the final phase): the refit is started, not
    refused because a fixed 5 s of it was kept for grading the kept outputs ("not started: 0.0s
    left for it"); grading them keeps what it needs (twice the scoring plus a second, or 40%)."""
    judge = evaluator(tmp_path, final_rows="a b c d e f")
    assert judge.evaluate(tmp_path / "work", "0").status is Status.OK  # its selection run naps 3 s
    final = judge.evaluate(tmp_path / "work", "0", phase="final", deadline=time.time() + 5)
    assert final.status is Status.OK and final.metrics == {"rows": 6.0, "answers": 5.0}, final.reason
    assert judge.graded == f"{GRADED}: the refit on the final phase's public data"


def test_the_kept_outputs_are_the_chosen_candidates_own(tmp_path: Path) -> None:
    """Two candidates scored; the final of the first grades its outputs, not the better second's;
    a candidate never scored in selection has none, and is run again as selected."""
    judge = evaluator(tmp_path)
    other = candidate(tmp_path, "other", bonus=10)
    assert judge.evaluate(tmp_path / "work", "0").metrics["rows"] == 4.0
    assert judge.evaluate(other, "1").metrics["rows"] == 14.0
    assert len(kept_entries(tmp_path)) == 2
    final = judge.evaluate(tmp_path / "work", "0", phase="final", deadline=time.time() + 8)
    assert final.status is Status.OK and final.metrics["rows"] == 4.0
    assert "experiment 0's selection run" in judge.graded

    judge = evaluator(tmp_path / "fresh", final_rows="a crash")
    never = candidate(tmp_path / "fresh", "never", bonus=20)
    assert judge.evaluate(tmp_path / "fresh" / "work", "0").status is Status.OK
    final = judge.evaluate(never, "1", phase="final", deadline=time.time() + 25)
    assert final.status is Status.OK and final.metrics["rows"] == 24.0  # its own rerun, as selected
    assert judge.graded.startswith(f"{GRADED}: a new run on the selection's public data")


def test_a_later_candidate_cannot_alter_the_kept_outputs(tmp_path: Path) -> None:
    """A later candidate that knows where the kept outputs are tries to overwrite them (and to
    read them) from its sandbox: it cannot reach them, and the final phase grades the originals."""
    judge = evaluator(tmp_path)
    assert judge.evaluate(tmp_path / "work", "0").status is Status.OK
    (entry,) = kept_entries(tmp_path)
    target = entry / "outputs" / "seen.txt"
    attack = f"""
tried = []
for path in ({str(target)!r}, {str(entry)!r} + "/outputs/extra.txt", {str(entry / MANIFEST)!r}):
    try:
        open(path, "w").write("99")
        tried.append("wrote")
    except OSError:
        tried.append("refused")
(Path(os.environ["STROP_OUTPUTS"]) / "tried.txt").write_text(" ".join(tried))
"""
    later = candidate(tmp_path, "later", bonus=0, extra=attack)
    assert judge.evaluate(later, "1").status is Status.OK
    assert target.read_text() == "4" and not (entry / "outputs" / "extra.txt").exists()
    assert os.stat(target).st_mode & 0o222 == 0  # frozen read-only, strop's own user included
    final = judge.evaluate(tmp_path / "work", "0", phase="final", deadline=time.time() + 8)
    assert final.status is Status.OK and final.metrics["rows"] == 4.0


def test_kept_outputs_changed_after_keeping_are_not_graded(tmp_path: Path) -> None:
    """A kept file whose bytes no longer match the manifest (changed on the host, whoever did it) is
    refused on the copy the scorer would read; the final phase runs the candidate as selected."""
    judge = evaluator(tmp_path, final_rows="a crash")
    assert judge.evaluate(tmp_path / "work", "0").status is Status.OK
    (entry,) = kept_entries(tmp_path)
    target = entry / "outputs" / "seen.txt"
    os.chmod(target.parent, 0o755)
    os.chmod(target, 0o644)
    target.write_text("99")
    final = judge.evaluate(tmp_path / "work", "0", phase="final", deadline=time.time() + 25)
    assert final.status is Status.OK and final.metrics["rows"] == 4.0  # a rerun, not the 99
    assert "were changed after they were kept" in Path(final.log_path).read_text()
    assert judge.graded.startswith(f"{GRADED}: a new run on the selection's public data")


def test_with_folds_the_first_folds_outputs_are_kept(tmp_path: Path) -> None:
    """Fold k's public data has k extra rows: the kept outputs are fold 0's (4 rows), and the
    record says so."""
    judge = evaluator(tmp_path, folds=3)
    selected = judge.evaluate(tmp_path / "work", "0")
    assert selected.status is Status.OK and selected.metrics["rows"] == 5.0  # mean of 4, 5, 6
    final = judge.evaluate(tmp_path / "work", "0", phase="final", deadline=time.time() + 8)
    assert final.status is Status.OK and final.metrics == {"rows": 4.0, "answers": 5.0}
    assert "fold 1 of 3" in judge.graded


def test_the_code_digest_is_the_candidates_files_not_its_lane(tmp_path: Path) -> None:
    """Two lanes holding the same commit digest alike (each lane's `.git` file names its own
    worktree); a changed byte, an executable bit or a new file is other code."""
    from evaluators.scratch import tree_digest

    lanes = [tmp_path / "lane-0", tmp_path / "lane-1"]
    for n, lane in enumerate(lanes):
        (lane / "pkg").mkdir(parents=True)
        (lane / "run.py").write_text(RUN)
        (lane / "pkg" / "params.json").write_text("{}")
        (lane / ".git").write_text(f"gitdir: /repo/.git/worktrees/lane-{n}\n")
    assert tree_digest(lanes[0]) == tree_digest(lanes[1])
    before = tree_digest(lanes[1])
    (lanes[1] / "pkg" / "params.json").write_text('{"a": 1}')
    assert tree_digest(lanes[1]) != before
    (lanes[1] / "pkg" / "params.json").write_text("{}")
    os.chmod(lanes[1] / "run.py", 0o755)
    assert tree_digest(lanes[1]) != before
    os.chmod(lanes[1] / "run.py", 0o644)
    assert tree_digest(lanes[1]) == before
    (lanes[1] / "extra.txt").write_text("")
    assert tree_digest(lanes[1]) != before
