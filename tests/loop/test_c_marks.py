"""Marked lines in C and C++ files: C's own number literals, and hints that are lines of C.

`0.001f`, `16u`, `8UL`, `0x10` were refused ("a suffix is no value strop can write back"), and the
hint was to drop the suffix, which changes the program's types (`0.001` is a `double`): a C user
had to choose between strop and their own code. They are read as numbers now, and a new value is
written as the same kind of literal (`1.0f`, not `1f`, which is no C); a value the literal cannot
hold (0.5 as `16u`) is one line of error before the run. A `#define` is still refused, with a line
of C in its place. Each hint here is put in the file: strop must accept it, and gcc must read it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.errors import TaskSpecError
from agent.marks import CNumber, Mark, parse
from agent.space import Space, check_files
from agent.task import load_task
from tests.sandbox.support import in_ci

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
    ("value", "new", "written"),
    [
        ("0.001f", 2.5e-05, "2.5e-05f"),
        ("0.001F", 0.5, "0.5F"),
        ("1e-3f", 0.002, "0.002f"),
        (".5f", 0.25, "0.25f"),
        ("1.f", 3.0, "3.0f"),
        ("1.5L", 2.75, "2.75L"),
        ("1.5l", 0.125, "0.125l"),
        ("-0.5f", 0.75, "0.75f"),
        ("0.5f", -0.75, "-0.75f"),
        ("0.001f", 1, "1.0f"),  # an int value of a float literal: `1f` is no C
        ("2.0", 3, "3.0"),  # an unsuffixed double stays a double
        ("16u", 32, "32u"),
        ("16U", 7, "7U"),
        ("8l", 12, "12l"),
        ("8L", -3, "-3L"),
        ("8ul", 9, "9ul"),
        ("8UL", 64, "64UL"),
        ("8lu", 10, "10lu"),
        ("8LU", 11, "11LU"),
        ("8ll", 1 << 40, "1099511627776ll"),
        ("8LL", 5, "5LL"),
        ("8ull", 6, "6ull"),
        ("8ULL", 13, "13ULL"),
        ("8llu", 14, "14llu"),
        ("8LLU", 15, "15LLU"),
        ("0x10", 32, "0x20"),
        ("0X1F", 255, "0XFF"),
        ("0x0010u", 40, "0x0028u"),
        ("010", 16, "020"),  # octal, as C reads it
    ],
)
def test_c_number_literals_round_trip_keeping_their_suffix(value: str, new: float, written: str) -> None:
    """read → write a new value → read back: the literal keeps its suffix, base and kind."""
    line = f"static const T X = {value};  // strop: x"
    mark = parse(line, "c")
    assert isinstance(mark, Mark) and mark.value == value
    number = CNumber.parse(value)
    assert number is not None and mark.read() == number.value and not isinstance(mark.read(), str)
    rewritten = mark.with_value(new)
    assert rewritten == f"static const T X = {written};  // strop: x"
    again = parse(rewritten, "c")
    assert isinstance(again, Mark) and again.read() == new and type(again.read()) is type(number.value)


@pytest.mark.parametrize(
    ("new", "written"),
    [(0.08056775408023126, "0.080567755f"), (123456789.0, "123456790.0f"), (1e-7, "1.0e-07f"), (0.1, "0.1f")],
)
def test_a_float_literal_gets_the_digits_a_float_holds(new: float, written: str) -> None:
    """A float holds 24 bits: the double's 17 digits (`0.08056775408023126f`) say more than C keeps;
    the shortest decimal that reads back as the same float is written, and C reads the same float."""
    import numpy as np

    mark = parse("static const float LR = 0.001f;  // strop: lr", "c")
    assert isinstance(mark, Mark)
    rewritten = mark.with_value(new)
    assert rewritten == f"static const float LR = {written};  // strop: lr"
    assert np.float32(float(written.rstrip("f"))) == np.float32(new)


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("static const float LR = 0.001f; // strop: lr", 0.001),
        ("    constexpr unsigned BLOCK = 16u;  // strop: block", 16),
        ("static const long BLOCK = 8L; // strop: block", 8),
        ("static const unsigned long long BLOCK = 0x10ULL; // strop: block", 16),
    ],
)
def test_a_suffixed_number_is_a_value_strop_searches(tmp_path: Path, line: str, value: float) -> None:
    other = (
        "static const int BLOCK = 8; // strop: block" if "lr" in line else "float LR = 0.01f; // strop: lr"
    )
    (tmp_path / "knobs.h").write_text(f"{line}\n{other}\n")
    (tmp_path / "run.sh").write_text("echo '{\"m\": 1}'\n")
    (tmp_path / "task.toml").write_text(TASK.format(header="knobs.h"))
    task = load_task(tmp_path / "task.toml")
    assert check_files(task) == []
    name = "lr" if "lr" in line else "block"
    assert Space.from_task(task).written(tmp_path, task.spec.proposer)[name] == value


@pytest.mark.parametrize(
    ("line", "space", "expected"),
    [
        (
            "static const unsigned LR = 16u; // strop: lr",
            "",
            "`16u` is a C unsigned integer literal, which cannot hold [space] lr's value 0.0001: give lr "
            "integer values (an int parameter), or write a floating literal (`16.0`)",
        ),
        (
            "static const long LR = 0x10L; // strop: lr",
            "",
            "`0x10L` is a C hex integer literal, which cannot hold [space] lr's value 0.0001",
        ),
        (
            "static const unsigned BLOCK = 8u; // strop: block",
            'block = { type = "int", low = -4, high = 64 }',
            "`8u` is a C unsigned integer literal, which cannot hold [space] block's value -4: drop the "
            "`u` (`8`), or raise block's low to 0",
        ),
        (
            "static const long BLOCK = 8UL; // strop: block",
            'block = { type = "choice", choices = [8, "auto"] }',
            "`8UL` is a C unsigned integer literal, which cannot hold [space] block's value 'auto': "
            "make block's choices numbers",
        ),
        (  # past the literal's own type: `4294967296u` in an `unsigned` is 0
            "static const unsigned BLOCK = 8u; // strop: block",
            'block = { type = "int", low = 1, high = 4294967296 }',
            "`8u` is a C unsigned integer literal, which cannot hold [space] block's value 4294967296: keep "
            "block within 0..4294967295 (an unsigned int), or write an unsigned long long literal (`8ull`)",
        ),
        (  # `1e+39f` is inf
            "static const float BLOCK = 0.5f; // strop: block",
            'block = { type = "float", low = 1.0, high = 1e39, log = true }',
            "which cannot hold [space] block's value 1e+39: keep block within ±3.4028235e+38",
        ),
        (  # `1e-50f` is 0
            "static const float BLOCK = 0.5f; // strop: block",
            'block = { type = "float", low = 1e-50, high = 1.0, log = true }',
            "which cannot hold [space] block's value 1e-50: keep block within",
        ),
    ],
)
def test_a_value_the_literal_cannot_hold_is_refused_in_one_line(
    tmp_path: Path, line: str, space: str, expected: str
) -> None:
    other = (
        "static const int BLOCK = 8; // strop: block" if "LR" in line else "float LR = 0.01f; // strop: lr"
    )
    task = TASK.format(header="knobs.h")
    task = task.replace('block = { type = "int", low = 1, high = 64 }', space) if space else task
    (tmp_path / "run.sh").write_text("echo '{\"m\": 1}'\n")
    (tmp_path / "knobs.h").write_text(f"{line}\n{other}\n")
    (tmp_path / "task.toml").write_text(task)
    with pytest.raises(TaskSpecError) as caught:
        check_files(load_task(tmp_path / "task.toml"))
    message = str(caught.value)
    assert "\n" not in message and "[proposer.marked]" in message and "knobs.h:1: " in message
    assert expected in message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("static const float LR = 1f; // strop: lr", "static const float LR = 1.0f; // strop: lr"),
        ("static const float LR = 1.5u; // strop: lr", "static const float LR = 1.5; // strop: lr"),
    ],
)
def test_a_suffix_c_does_not_read_gets_a_line_it_does(tmp_path: Path, line: str, expected: str) -> None:
    """`1f` is no C (gcc: invalid suffix "f" on integer constant): the hint is the literal C reads."""
    other = "static const int BLOCK = 8; // strop: block"
    message = refused(tmp_path, "knobs.h", f"{line}\n{other}\n")
    assert "is no number C reads" in message and "line of its own" not in message
    assert suggested(message) == expected
    (tmp_path / "knobs.h").write_text(f"{expected}\n{other}\n")
    notes = check_files(load_task(tmp_path / "task.toml"))  # accepted; its value (1.0, 1.5) is past lr's high
    assert notes == [
        f"knobs.h:1: lr = {expected.split()[5].rstrip(';f')} is not in [space] lr (float 0.0001..0.1): "
        "experiment 0 runs with it; candidates stay within the space"
    ]


def test_a_suffix_in_a_file_of_no_c_suffix_is_pointed_at_the_c_files(tmp_path: Path) -> None:
    """A `.glsl` file's `//` lines are read as JavaScript's, which has no `f`: the hint says where
    suffixes are read, and its line (no suffix) is one strop accepts."""
    message = refused(tmp_path, "shader.glsl", "const float LR = 0.001f; // strop: lr\n")
    assert "the suffix `f` is read in C, C++ and CUDA files" in message
    line = suggested(message)
    assert line == "const float LR = 0.001; // strop: lr"
    (tmp_path / "shader.glsl").write_text(f"{line}\nconst int BLOCK = 8; // strop: block\n")
    assert check_files(load_task(tmp_path / "task.toml")) == []


def test_a_call_in_c_gets_a_line_of_c(tmp_path: Path) -> None:
    message = refused(tmp_path, "knobs.h", "static const float LR = scale(0.1); // strop: lr\n")
    assert (
        "put the value on a line of its own, e.g. `static const int BLOCK = 8;  // strop: block`" in message
    )


PLAIN = "static const float LR = 0.001;  // strop: lr\nstatic const int BLOCK = 8;  // strop: block\n"
SUFFIXED = (
    "static const __auto_type LR = 0.001f;  // strop: lr\n"
    "static const unsigned long BLOCK = 0x08UL;  // strop: block\n"
)


@pytest.mark.parametrize("header", [PLAIN, SUFFIXED], ids=["plain", "suffixed"])
def test_a_rewritten_header_is_c_that_gcc_reads(tmp_path: Path, header: str) -> None:
    """The values strop writes into a header are C's own: gcc compiles them and prints them back.

    `__auto_type` takes its type from the literal: had strop dropped the `f`, LR would be a
    `double`, `x * LR` would promote x (an error under `-Wdouble-promotion -Werror`), and the
    `_Generic` assertion that LR is a float would fail.
    """
    gcc = shutil.which("gcc")
    if gcc is None:  # the README's setup installs it: in CI its absence is a failure
        if in_ci():
            pytest.fail("gcc is missing: scripts/setup.sh installs it")
        pytest.skip("needs gcc: no C compiler on this machine to check the rewritten header")
    (tmp_path / "knobs.h").write_text(header)
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "knobs.h"\n'
        "float scaled(float x) { return x * LR; }\n"
        '_Static_assert(_Generic(LR, float: 1, default: 0), "LR is a float");\n'
        'int main(void) { printf("%g %d\\n", (double)scaled(1.0f), (int)BLOCK); return 0; }\n'
    )
    (tmp_path / "run.sh").write_text("echo '{\"m\": 1}'\n")
    (tmp_path / "task.toml").write_text(TASK.format(header="knobs.h"))
    task = load_task(tmp_path / "task.toml")
    space, proposer = Space.from_task(task), task.spec.proposer
    assert check_files(task) == [] and space.written(tmp_path, proposer) == {"lr": 0.001, "block": 8}
    rewritten = space.materialise({"lr": 2.5e-05, "block": 32}, tmp_path, proposer)["knobs.h"]
    if header == SUFFIXED:
        assert "LR = 2.5e-05f;" in rewritten and "BLOCK = 0x20UL;" in rewritten
    (tmp_path / "knobs.h").write_text(rewritten)
    flags = ["-std=gnu11", "-Wall", "-Werror", "-Wdouble-promotion"]
    subprocess.run([gcc, *flags, "-o", str(tmp_path / "main"), str(tmp_path / "main.c")], check=True)
    printed = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True).stdout
    assert printed.split() == ["2.5e-05", "32"]
