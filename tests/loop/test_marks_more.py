"""Marked lines whose values went where the program did not see them, and the notes that say so.

- A float `[space]` parameter on `static const int ALPHA = 1;` was written as `ALPHA = 0.4667`:
  C truncates it to 0, while the record and the search said 0.4667. A line that declares an
  integer type (C's `int`, Rust's `i32`, Go's `int`, Java's `int`) now refuses a float parameter,
  with the line to write; a floating declaration (`double`, `auto`, `f64`, ...) is not refused.
- `/* strop: alpha */` was no mark: alpha's values went to a params.json nothing read, and the
  only word was that params.json did not exist. It is a mark now in C and the `//` languages,
  and a parameter with no marked line whose params file nothing names is a note.
- Marked values outside the `[space]` or breaking the `[constraints]` had no note (the params
  file's had).
- `run = "./nosuchprog --fast"` had no note (`sh runn.sh` had one).
- Every run of a task proposed the same points (`[search] seed = 0`): a second run now says
  which earlier run it repeats.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.errors import TaskSpecError
from agent.marks import Mark, Unusable, cannot_hold, parse
from agent.space import Space, check_files
from agent.task import command_notes, load_task

TASK = """[task]
name = "sqrt"
goal = "minimize cost"
workspace = "."

[evaluator]
run = "{run}"
score = "sh score.sh"
scorer = "../scorer"
metric = "cost"
direction = "minimize"
timeout = "60s"
sandbox = "local"
score_sandbox = "local"

[proposer]
marked = ["prog.c"]

[space]
iters = {{ type = "int", low = 1, high = 8 }}
alpha = {{ type = "float", low = 0.05, high = 2.0 }}

[constraints]
rules = ["iters * alpha <= 8"]
"""

PROG = """#include <stdio.h>
static const int ITERS = 2;  // strop: iters
{alpha}
int main(void) {{ printf("%d %g\\n", ITERS, (double)ALPHA); return 0; }}
"""


def workspace(tmp_path: Path, alpha: str, run: str = "sh run.sh", iters: str = "2") -> Path:
    (tmp_path / "scorer").mkdir(exist_ok=True)
    (tmp_path / "scorer" / "score.sh").write_text("echo '{\"cost\": 1}'\n")
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    (ws / "run.sh").write_text("gcc -o /tmp/prog prog.c && /tmp/prog\n")
    (ws / "prog.c").write_text(PROG.format(alpha=alpha).replace("ITERS = 2;", f"ITERS = {iters};"))
    (ws / "task.toml").write_text(TASK.format(run=run))
    return ws


# ---------------------------------------------------------------- 1: a declared integer type


def test_a_float_parameter_on_a_c_int_line_is_refused_with_the_line_to_write(tmp_path: Path) -> None:
    ws = workspace(tmp_path, "static const int ALPHA = 1;  // strop: alpha")
    with pytest.raises(TaskSpecError) as caught:
        check_files(load_task(ws))
    message = str(caught.value)
    assert "prog.c:3: `static const int ALPHA = 1;  // strop: alpha` declares ALPHA as `int`" in message
    assert "C truncates it to 0" in message and "[proposer.marked]" in message
    fixed = "static const double ALPHA = 1;  // strop: alpha"
    assert message.endswith(f"`{fixed}`")
    (ws / "prog.c").write_text(PROG.format(alpha=fixed))
    assert check_files(load_task(ws)) == []  # the line it asks for is accepted


@pytest.mark.parametrize(
    ("line", "dialect", "typename", "fixed"),
    [
        ("static const int ALPHA = 1;  // strop: alpha", "c", "int", "static const double ALPHA = 1;"),
        ("const unsigned long A = 1;  // strop: alpha", "c", "unsigned long", "const double A = 1;"),
        ("constexpr std::size_t A = 1;  // strop: alpha", "c", "std::size_t", "constexpr double A = 1;"),
        ("static const int32_t A = 1;  /* strop: alpha */", "c", "int32_t", "static const double A = 1;"),
        ("int A = 1.0f;  // strop: alpha", "c", "int", "double A = 1.0f;"),
        ("const ALPHA: i32 = 1;  // strop: alpha", None, "i32", "const ALPHA: f64 = 1;"),
        ("let mut alpha: usize = 1;  // strop: alpha", None, "usize", "let mut alpha: f64 = 1;"),
        ("var alpha int = 1  // strop: alpha", None, "int", "var alpha float64 = 1"),
        ("    static final long ALPHA = 1L;  // strop: alpha", None, "long", "static final double ALPHA"),
        ("val alpha: Int = 1  // strop: alpha", None, "Int", "val alpha: Double = 1"),
    ],
)
def test_integer_declarations_refuse_a_float(
    line: str, dialect: str | None, typename: str, fixed: str
) -> None:
    mark = parse(line, dialect)  # type: ignore[arg-type]
    assert isinstance(mark, Mark)
    refused = cannot_hold(mark, 0.05)
    assert refused is not None and f"as `{typename}`, an integer type" in refused and fixed in refused
    assert cannot_hold(mark, 3) is None  # an int parameter is fine there


@pytest.mark.parametrize(
    ("line", "dialect"),
    [
        ("static const double ALPHA = 1;  // strop: alpha", "c"),
        ("static const float ALPHA = 1.0f;  // strop: alpha", "c"),
        ("static const long double ALPHA = 1;  // strop: alpha", "c"),
        ("auto alpha = 1;  // strop: alpha", "c"),
        ("static const __half A = 1;  // strop: alpha", "c"),
        ("  .alpha = 1,  // strop: alpha", "c"),
        ("const alpha = 1;  // strop: alpha", "json"),
        ("export const byte = 1;  // strop: alpha", "json"),  # `byte` is the name, not a type
        ("const x: number = 1;  // strop: alpha", "json"),
        ("var alpha = 1;  // strop: alpha", None),
        ("let alpha: f64 = 1.0;  // strop: alpha", None),
        ("var alpha float64 = 1  // strop: alpha", None),
        ("alpha: int = 1  # strop: alpha", "python"),  # Python holds 0.5 in it as 0.5
        ("ALPHA = 1  # strop: alpha", "python"),
    ],
)
def test_floating_or_untyped_declarations_take_a_float(line: str, dialect: str | None) -> None:
    mark = parse(line, dialect)  # type: ignore[arg-type]
    assert isinstance(mark, Mark)
    assert cannot_hold(mark, 0.05) is None


def test_an_unsigned_declaration_refuses_a_negative_value() -> None:
    mark = parse("static const unsigned N = 8;  // strop: n", "c")
    assert isinstance(mark, Mark)
    refused = cannot_hold(mark, -1)
    assert refused is not None and "an unsigned type" in refused and "raise n's low to 0" in refused
    assert cannot_hold(mark, 0) is None
    signed = parse("static const int N = 8;  // strop: n", "c")
    assert isinstance(signed, Mark) and cannot_hold(signed, -1) is None


# ---------------------------------------------------------------- 2: `/* strop: NAME */`


def test_a_block_comment_mark_is_read_and_written(tmp_path: Path) -> None:
    ws = workspace(tmp_path, "static const double ALPHA = 0.7;  /* strop: alpha */")
    task = load_task(ws)
    assert check_files(task) == []  # no "params.json does not exist": nothing goes there
    space = Space.from_task(task)
    assert space.read(ws, task.spec.proposer) == {"iters": 2, "alpha": 0.7}
    files = space.materialise({"iters": 3, "alpha": 0.25}, ws, task.spec.proposer)
    assert set(files) == {"prog.c"}
    assert "static const double ALPHA = 0.25;  /* strop: alpha */\n" in files["prog.c"]
    gcc = shutil.which("gcc")
    if gcc is not None:
        (ws / "prog.c").write_text(files["prog.c"])
        subprocess.run([gcc, "-o", str(tmp_path / "p"), str(ws / "prog.c")], check=True)
        assert subprocess.run([tmp_path / "p"], capture_output=True, text=True).stdout == "3 0.25\n"


@pytest.mark.parametrize(
    ("line", "dialect", "why"),
    [
        ("static const double A = 0.7;  /* strop: alpha", "c", "must end with `*/`"),
        ("ALPHA = 0.7  /* strop: alpha */", "python", "is no comment in this file's language"),
    ],
)
def test_a_block_comment_mark_that_cannot_be_used_says_why(line: str, dialect: str, why: str) -> None:
    mark = parse(line, dialect)  # type: ignore[arg-type]
    assert isinstance(mark, Unusable) and why in mark.why


def test_a_comment_of_the_users_own_inside_the_value_is_kept() -> None:
    mark = parse("static const double A = 0.7 /* rate */;  // strop: alpha", "c")
    assert isinstance(mark, Mark) and mark.read() == 0.7
    assert mark.with_value(0.5) == "static const double A = 0.5 /* rate */;  // strop: alpha"


def test_a_parameter_whose_values_go_to_a_file_nothing_reads_is_a_note(tmp_path: Path) -> None:
    ws = workspace(tmp_path, "static const double ALPHA = 0.7;  -- strop: alpha")
    notes = check_files(load_task(ws))
    assert notes == [
        "[space] alpha has no marked line in prog.c: its values go to params.json only, and no workspace "
        "file or command names params.json; mark a line for it, e.g. "
        "`static const int BLOCK = 8;  // strop: block`, or drop it from [space]"
    ]
    (ws / "run.sh").write_text("python read_params.py params.json\n")  # something reads it: the old note
    [note] = check_files(load_task(ws))
    assert "params.json does not exist" in note


# ---------------------------------------------------------------- 3: marked values are checked


def test_marked_values_outside_the_space_or_the_rules_are_notes(tmp_path: Path) -> None:
    ws = workspace(tmp_path, "static const double ALPHA = 5.0;  // strop: alpha", iters="12")
    assert check_files(load_task(ws)) == [
        "prog.c:2: iters = 12 is not in [space] iters (int 1..8): experiment 0 runs with it; candidates "
        "stay within the space",
        "prog.c:3: alpha = 5.0 is not in [space] alpha (float 0.05..2): experiment 0 runs with it; "
        "candidates stay within the space",
    ]
    ws = workspace(tmp_path, "static const double ALPHA = 1.5;  // strop: alpha", iters="8")
    assert check_files(load_task(ws)) == [
        "prog.c (iters=8, alpha=1.5) breaks [constraints] iters * alpha <= 8: experiment 0 runs with these "
        "values; candidates keep to the rules"
    ]
    ws = workspace(tmp_path, "static const double ALPHA = 0.5;  // strop: alpha", iters="8")
    assert check_files(load_task(ws)) == []


# ---------------------------------------------------------------- 4: a missing ./program


@pytest.mark.parametrize(
    ("run", "noted"),
    [
        ("./nosuchprog --fast", "./nosuchprog"),
        ("OMP_NUM_THREADS=1 bin/nosuch", "bin/nosuch"),
        ("echo start; ./nosuchprog", "./nosuchprog"),
        ("./prog", None),  # it is there
        ("make && ./nosuchprog", None),  # built by the line's earlier command
        ("gcc -o nosuchprog prog.c && ./nosuchprog --fast", None),
        ("cd build && ./nosuchprog", None),
        ("/usr/bin/nosuchprog", None),  # may be in the sandbox's image
    ],
)
def test_a_program_run_by_a_path_the_workspace_lacks_is_a_note(
    tmp_path: Path, run: str, noted: str | None
) -> None:
    ws = workspace(tmp_path, "static const double ALPHA = 0.7;  // strop: alpha", run=run)
    (ws / "prog").write_text("#!/bin/sh\n")
    notes = [note for note in command_notes(load_task(ws)) if note.startswith("[evaluator] run")]
    expected = [f"[evaluator] run runs {noted}, which is not in the workspace ({ws})"] if noted else []
    assert notes == expected


# ---------------------------------------------------------------- 5: the same seed again


def _record(run_id: str, task_path: Path, source: str) -> SimpleNamespace:
    return SimpleNamespace(id=run_id, task_path=str(task_path), task_source=source)


def test_a_run_that_repeats_an_earlier_one_is_a_note(tmp_path: Path) -> None:
    from agent.cli.run import _repeat_notes

    ws = workspace(tmp_path, "static const double ALPHA = 0.7;  // strop: alpha")
    task = load_task(ws)
    source = task.source
    index = SimpleNamespace(runs=lambda: [_record("a1b2c3", task.path, source)])
    assert _repeat_notes(task, index) == [
        "run a1b2c3 used [search] seed 0 on this task with the offline proposer: this run proposes the same "
        "points again; `strop resume a1b2c3 --experiments N` (a new total) continues it instead, or set "
        "another [search] seed in task.toml"
    ]
    explicit = source + "\n[search]\nseed = 0\n"  # the default written out is the same seed
    assert _repeat_notes(task, SimpleNamespace(runs=lambda: [_record("d4", task.path, explicit)]))
    for other in (
        source + "\n[search]\nseed = 7\n",  # another seed
        source.replace("high = 8", "high = 9"),  # another space
        source.replace("[proposer]", '[llm]\nbase_url = "http://x/v1"\nmodel = "m"\n\n[proposer]'),
    ):
        assert (
            _repeat_notes(task, SimpleNamespace(runs=lambda other=other: [_record("e5", task.path, other)]))
            == []
        )
    elsewhere = tmp_path / "other" / "task.toml"
    assert _repeat_notes(task, SimpleNamespace(runs=lambda: [_record("f6", elsewhere, source)])) == []


def test_strop_run_says_so_when_a_second_run_repeats_the_first(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "bench.py").write_text(
        'import json\np = json.load(open("params.json"))\nprint(json.dumps({"seconds": p["lr"]}))\n'
    )
    (ws / "params.json").write_text('{"lr": 0.1}\n')
    (ws / "task.toml").write_text(
        '[task]\nname = "rep"\ngoal = "g"\nworkspace = "."\n\n[evaluator]\ncommand = "python bench.py"\n'
        'metric = "seconds"\ndirection = "minimize"\ntimeout = "60s"\nsandbox = "local"\n\n'
        '[space]\nlr = { type = "float", low = 0.01, high = 0.5 }\n'
    )
    environ = {**os.environ, "STROP_HOME": str(tmp_path / "home")}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent.cli", "run", str(ws), "--experiments", "1", "--json"],
            capture_output=True,
            text=True,
            env=environ,
            timeout=300,
        )

    first = run()
    assert first.returncode == 0, first.stderr
    assert "proposes the same points" not in first.stderr
    second = run()
    assert second.returncode == 0, second.stderr
    [note] = [line for line in second.stderr.splitlines() if "proposes the same points" in line]
    assert note.startswith("note: run ") and "used [search] seed 0" in note


@pytest.mark.parametrize(
    ("line", "value", "held"),
    [
        ("static const int N = 4;  // strop: n", 2**40, "-2147483648..2147483647"),
        ("static const char C = 4;  // strop: n", 300, "-128..127"),
        ("static const short int S = 4;  // strop: n", 40_000, "-32768..32767"),
        ("static const uint8_t B = 4;  // strop: n", 256, "0..255"),
    ],
)
def test_an_integer_past_the_declared_c_types_range_is_refused(line: str, value: int, held: str) -> None:
    """2**40 in an `int` (or 300 in a `char`) wrapped in C while the record said 2**40."""
    mark = parse(line, "c")
    assert isinstance(mark, Mark)
    refused = cannot_hold(mark, value)
    assert refused is not None and f"which holds {held}" in refused, refused
    assert cannot_hold(mark, 100) is None
    wide = parse("static const long long N = 4;  // strop: n", "c")
    assert isinstance(wide, Mark) and cannot_hold(wide, 2**40) is None
