"""Red team: attacks on sealing the outputs rather than on their contents, through `strop eval`.

Sealing (see `evaluators.outputs`) copies what stage `run` left into a folder strop owns.
The candidate chooses every name in it: sixteen folders of 250-character names make a
path longer than PATH_MAX once put under the sealed folder (an uncaught "File name too
long" stopped `strop eval` and `strop run` with a traceback, and left the experiment
pending), and a name holding a newline or a terminal escape was copied as it was into
the verdict's one-line reason, where it split `strop log`'s tree with a line of the
candidate's choosing. And on `local` a candidate can write the sealed folder itself before
strop seals into it.
"""

from __future__ import annotations

from tests.redteam.conftest import HostileTask, strop
from tests.redteam.test_hostile_candidates import HONEST_PREDICT, evaluate

DEEP_LONG_NAMES = """
os.chdir(OUT)
for depth in range(16):
    name = chr(ord("a") + depth) * 250
    os.mkdir(name)
    os.chdir(name)
open("x" * 250, "w").write("1")
"""

HOSTILE_NAME = """
os.symlink("/etc/passwd", os.fsencode(OUT) + b"/\\x1b]0;owned\\x07\\n\\xe2\\x94\\x94\\xe2\\x94\\x80\\xe2\\x94\\x80 7 ok \\xff")
"""


def test_outputs_nested_past_path_max_are_refused_not_a_crash(hostile: HostileTask) -> None:
    """Defence: the copy goes through descriptors, and a path over `MAX_PATH` is refused (`buggy`)."""
    hostile.attack(HONEST_PREDICT + DEEP_LONG_NAMES)
    record = evaluate(hostile)
    assert record["status"] == "buggy", record
    assert "longer than" in record["reason"], record["reason"]


def test_a_hostile_output_name_stays_on_one_escaped_line(hostile: HostileTask) -> None:
    """Defence: names in a seal error are written as `ascii()` writes them."""
    hostile.attack(HONEST_PREDICT + HOSTILE_NAME)
    record = evaluate(hostile)
    assert record["status"] == "buggy", record
    reason = record["reason"]
    assert "symlink" in reason, reason
    assert reason.isprintable() and reason.isascii(), reason
    shown = strop("log", "--all")
    assert shown.code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert not [line for line in lines if line.lstrip("└─ ").startswith("7 ok")], shown.stdout
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout


SEALED_BEFOREHAND = """
sealed = OUT.parent / "sealed"
try:
    (sealed / "predictions.json").write_text("{}")
    print("wrote the sealed folder")
except OSError as error:
    print(f"cannot write the sealed folder: {type(error).__name__}")
"""


def test_a_file_put_in_the_sealed_folder_beforehand_is_refused_not_a_crash(
    any_backend_task: HostileTask,
) -> None:
    """The sealed folder exists while stage run works (the held scorer binds it). On docker and
    bwrap the candidate cannot reach it; on local it can (documented), and a file it put there
    made the seal's exclusive create fail with an uncaught FileExistsError that stopped
    `strop eval`. Defence: a sealed folder that is not empty is the candidate's fault (`buggy`)."""
    any_backend_task.attack(HONEST_PREDICT + SEALED_BEFOREHAND)
    record = evaluate(any_backend_task)
    if any_backend_task.backend == "local":
        assert record["status"] == "buggy", record
        assert "sealed folder" in record["reason"], record["reason"]
    else:
        assert record["status"] == "ok", record
        assert "cannot write the sealed folder" in record["feedback"], record["feedback"]
