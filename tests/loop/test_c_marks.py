"""Marked lines in C and C++ files: the hint for a line strop cannot use is a line of C it can.

`#define BLOCK 8 // strop: n` and `0.001f` are refused (a `#define` has no `=`; a suffix is no
value strop can write back), and the hint said `SIZE = 8  # strop: size` (Python, not C) and
"put the value on a line of its own", which was no help for `0.001f`, already on one. Each hint
here is taken from the error and put in the file: strop must accept it, and gcc must read it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.errors import TaskSpecError
from agent.marks import Mark, parse
from agent.space import Space, check_files
from agent.task import load_task

TASK = """[task]
name = "c-knobs"
goal = "tune the kernel"
workspace = "."

[evaluator]
command = "sh run.sh"
metric = "m"
direction = "maximize"
timeout = "60s"
sandbox = "local"

[proposer]
marked = ["{header}"]

[space]
lr = {{ type = "float", low = 1e-4, high = 1e-1, log = true }}
block = {{ type = "int", low = 1, high = 64 }}
"""


def refused(tmp_path: Path, header: str, text: str) -> str:
    """The one-line error `strop run` gives before any run for a header holding `text`."""
    (tmp_path / "run.sh").write_text("echo '{\"m\": 1}'\n")
    (tmp_path / header).write_text(text)
    (tmp_path / "task.toml").write_text(TASK.format(header=header))
    with pytest.raises(TaskSpecError) as caught:
        check_files(load_task(tmp_path / "task.toml"))
    message = str(caught.value)
    assert "\n" not in message and "[proposer.marked]" in message
    return message


def suggested(message: str) -> str:
    """The line the message asks for: its last `code` span."""
    return re.findall(r"`([^`]+)`", message)[-1]


@pytest.mark.parametrize("header", ["knobs.h", "knobs.hpp", "kernel.cu"])
def test_a_define_is_refused_with_a_line_of_c(tmp_path: Path, header: str) -> None:
    lr = "float LR = 0.01; // strop: lr\n"
    message = refused(tmp_path, header, "#define BLOCK 8 // strop: block\n" + lr)
    assert "a `#define` has no `=`" in message and "# strop: size" not in message
    line = suggested(message)
    assert line == "static const int BLOCK = 8;  // strop: block"
    mark = parse(line, "c")
    assert isinstance(mark, Mark) and mark.name == "block" and mark.read() == 8
    (tmp_path / header).write_text(line + "\n" + lr)
    assert check_files(load_task(tmp_path / "task.toml")) == []  # the hint is a line strop accepts


@pytest.mark.parametrize(
    ("line", "expected", "value"),
    [
        (
            "static const float LR = 0.001f; // strop: lr",
            "static const float LR = 0.001; // strop: lr",
            0.001,
        ),
        ("    constexpr int BLOCK = 16u;  // strop: block", "constexpr int BLOCK = 16;  // strop: block", 16),
        ("static const long BLOCK = 8L; // strop: block", "static const long BLOCK = 8; // strop: block", 8),
    ],
)
def test_a_suffixed_number_is_refused_with_its_line_without_the_suffix(
    tmp_path: Path, line: str, expected: str, value: float
) -> None:
    other = "static const int BLOCK = 8; // strop: block" if "lr" in line else "float LR = 0.01; // strop: lr"
    message = refused(tmp_path, "knobs.h", f"{line}\n{other}\n")
    assert "is C's, not a value strop can rewrite" in message and "line of its own" not in message
    assert suggested(message) == expected
    (tmp_path / "knobs.h").write_text(f"{expected}\n{other}\n")
    assert check_files(load_task(tmp_path / "task.toml")) == []
    mark = parse(expected, "c")
    assert isinstance(mark, Mark) and mark.read() == value


def test_a_call_in_c_gets_a_line_of_c(tmp_path: Path) -> None:
    message = refused(tmp_path, "knobs.h", "static const float LR = scale(0.1); // strop: lr\n")
    assert (
        "put the value on a line of its own, e.g. `static const int BLOCK = 8;  // strop: block`" in message
    )


def test_a_rewritten_header_is_c_that_gcc_reads(tmp_path: Path) -> None:
    """The values strop writes into a header are C's own: gcc compiles them and prints them back."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("needs gcc")
    header = "static const float LR = 0.001;  // strop: lr\nstatic const int BLOCK = 8;  // strop: block\n"
    (tmp_path / "knobs.h").write_text(header)
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "knobs.h"\nint main(void) { printf("%g %d\\n", LR, BLOCK); return 0; }\n'
    )
    (tmp_path / "run.sh").write_text("echo '{\"m\": 1}'\n")
    (tmp_path / "task.toml").write_text(TASK.format(header="knobs.h"))
    task = load_task(tmp_path / "task.toml")
    space, proposer = Space.from_task(task), task.spec.proposer
    assert check_files(task) == [] and space.written(tmp_path, proposer) == {"lr": 0.001, "block": 8}
    rewritten = space.materialise({"lr": 2.5e-05, "block": 32}, tmp_path, proposer)["knobs.h"]
    (tmp_path / "knobs.h").write_text(rewritten)
    subprocess.run(
        [gcc, "-Wall", "-Werror", "-o", str(tmp_path / "main"), str(tmp_path / "main.c")], check=True
    )
    printed = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True).stdout
    assert printed.split() == ["2.5e-05", "32"]
