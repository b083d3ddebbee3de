"""Marked lines in the user's own files: YAML, Python dicts and typed lines, JSON-ish, TOML.

A YAML file's `size: 8  # strop: size` once matched nothing: the run sent every candidate's
values to a params file nothing read, and all its experiments scored the same, exit 0. Here the
values are read and written in each file's own language (checked by that language's reader),
and a mark the reader cannot use is one line of error before any run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from agent.errors import TaskSpecError
from agent.marks import Dialect, Mark, Unusable, parse
from agent.space import Space, check_files
from agent.task import ParamSpec, ProposerSpec, load_task


def space() -> Space:
    return Space(
        {
            "size": ParamSpec(type="int", low=2, high=256, log=True),
            "policy": ParamSpec(type="choice", choices=["fifo", "lru", "on"]),
            "lr": ParamSpec(type="float", low=1e-6, high=1.0, log=True),
            "flag": ParamSpec(type="bool"),
        }
    )


def rewrite(tmp_path: Path, name: str, text: str, point: dict) -> tuple[dict, str]:
    """The point the file holds, and the file's text with `point` written into it."""
    (tmp_path / name).write_text(text)
    proposer = ProposerSpec(params_file="", marked=[name])
    held = space().written(tmp_path, proposer)
    return held, space().materialise(point, tmp_path, proposer)[name]


YAML = """\
# cache settings (hand-written, keep my comments!)
name: lab-cache
cache:
  size: 8  # strop: size
  policy: fifo  # strop: policy
lr: 1e-3  # strop: lr
flag: true  # strop: flag
trace_seed: 3
"""


def test_yaml_marks_are_read_and_written_as_yaml(tmp_path: Path) -> None:
    held, text = rewrite(
        tmp_path, "config.yaml", YAML, {"size": 32, "policy": "lru", "lr": 1e-5, "flag": False}
    )
    assert held == {"size": 8, "policy": "fifo", "lr": 1e-3, "flag": True}
    assert text == YAML.replace("size: 8", "size: 32").replace("policy: fifo", "policy: lru").replace(
        "lr: 1e-3", "lr: 1.0e-05"
    ).replace("flag: true", "flag: false")
    loaded = yaml.safe_load(text)  # PyYAML reads `1e-05` as a string: it is written `1.0e-05`
    assert (
        loaded["cache"] == {"size": 32, "policy": "lru"} and loaded["lr"] == 1e-5 and loaded["flag"] is False
    )


@pytest.mark.parametrize(
    ("old", "new"), [("fifo", "lru"), ('"fifo"', '"lru"'), ("'fifo'", "'lru'"), ("fifo", '"on"')]
)
def test_yaml_strings_keep_their_quotes_and_stay_strings(tmp_path: Path, old: str, new: str) -> None:
    """A bare `on` is a bool to YAML: a choice that YAML would read as another type is quoted."""
    value = yaml.safe_load(new)
    held, text = rewrite(tmp_path, "c.yml", f"policy: {old}  # strop: policy\n", {"policy": value})
    assert held == {"policy": "fifo"}
    assert text == f"policy: {new}  # strop: policy\n" and yaml.safe_load(text) == {"policy": value}


PY = """\
lr: float = 0.1  # strop: lr
CONFIG = {
    "size": 8,  # strop: size
    "policy": "fifo",  # strop: policy
    'flag': False,  # strop: flag
}
"""


def test_python_typed_lines_and_dict_entries(tmp_path: Path) -> None:
    """`x: int = 5` reads 5 (the `=` wins over the `:`); a dict entry keeps its comma and quotes."""
    held, text = rewrite(tmp_path, "conf.py", PY, {"size": 64, "policy": "lru", "lr": 0.25, "flag": True})
    assert held == {"lr": 0.1, "size": 8, "policy": "fifo", "flag": False}
    assert text == PY.replace("0.1", "0.25").replace("8,", "64,").replace('"fifo"', '"lru"').replace(
        "False", "True"
    )
    namespace: dict = {}
    exec(compile(text, "conf.py", "exec"), namespace)
    assert namespace["lr"] == 0.25 and namespace["CONFIG"] == {"size": 64, "policy": "lru", "flag": True}


def test_json_with_comments_and_toml(tmp_path: Path) -> None:
    js = '{\n  "policy": \'fifo\',  // strop: policy\n  "flag": false  // strop: flag\n}\n'
    held, text = rewrite(tmp_path, "cfg.js", js, {"policy": "lru", "flag": True})
    assert held == {"policy": "fifo", "flag": False}
    assert text == js.replace("'fifo'", "'lru'").replace("false", "true")
    toml = "[cache]\nsize = 8  # strop: size\nflag = false  # strop: flag\npolicy = 'fifo'  # strop: policy\n"
    held, text = rewrite(tmp_path, "cfg.toml", toml, {"size": 9, "flag": True, "policy": "lru"})
    assert held == {"size": 8, "flag": False, "policy": "fifo"}
    assert tomllib.loads(text)["cache"] == {"size": 9, "flag": True, "policy": "lru"}


@pytest.mark.parametrize(
    ("line", "dialect", "value"),
    [
        ('url: "http://x/?a=b"  # strop: url', "yaml", "http://x/?a=b"),
        ("opts: a=b  # strop: opts", "yaml", "a=b"),
        ('    "expr": "a=b",  # strop: expr', "python", "a=b"),
        ("def f(lr: float = 0.1,  # strop: lr", "python", 0.1),
        ("color = '#fff'  # strop: color", "python", "#fff"),
        ("size: 8  # strop: size", None, 8),  # no known suffix: `key: value` is read as YAML
    ],
)
def test_the_separator_is_outside_quotes(line: str, dialect: Dialect | None, value: object) -> None:
    mark = parse(line, dialect)
    assert isinstance(mark, Mark) and mark.read() == value


@pytest.mark.parametrize(
    "line",
    ["size 8  # strop: size", "size:  # strop: size", "size: 8  # strop:", "size: 8  # strop: size and more"],
)
def test_a_strop_comment_the_reader_cannot_use_is_unusable(line: str) -> None:
    assert isinstance(parse(line, "yaml"), Unusable)
    assert parse("size: 8  # not a mark", "yaml") is None


TASK = """[task]
name = "yaml-cache"
goal = "lower the cost"
workspace = "."

[evaluator]
command = "python sim.py"
metric = "cost"
direction = "minimize"
timeout = "60s"
sandbox = "local"
files = ["sim.py"]

[proposer]
marked = ["config.yaml"]

[space]
size = { type = "int", low = 2, high = 64 }
policy = { type = "choice", choices = ["fifo", "lru"] }
"""

# no YAML library needed by the measured code: it reads the two lines it knows
SIM = """\
import json, re
text = open("config.yaml").read()
size = int(re.search(r"size: *(\\d+)", text).group(1))
policy = re.search(r"policy: *(\\w+)", text).group(1)
print(json.dumps({"cost": abs(size - 40) + (0 if policy == "lru" else 5)}))
"""


def yaml_task(tmp_path: Path, config: str) -> Path:
    (tmp_path / "sim.py").write_text(SIM)
    (tmp_path / "config.yaml").write_text(config)
    (tmp_path / "task.toml").write_text(TASK)
    return tmp_path / "task.toml"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            "cache:\n  size 8  # strop: size\n  policy: fifo  # strop: policy\n",
            "config.yaml:2: `size 8  # strop: size` is not a marked line strop can use (no `=` or `:` before "
            "the value); write `size: 8  # strop: size`",
        ),
        (
            "size: 8  # strop:\npolicy: fifo  # strop: policy\n",
            "config.yaml:1: `size: 8  # strop:` is not a marked line strop can use (`strop:` must be "
            "followed by one [space] name and end the line)",
        ),
        (
            "size: 8  # strop: sise\n",
            "config.yaml:1: `strop: sise` names no [space] parameter (did you mean size?)",
        ),
        (
            "size: 8\npolicy: fifo\n",
            "config.yaml has no marked line: strop writes each candidate's values into",
        ),
        (  # the whole mapping would have been replaced by one number
            "opts: {size: 8}  # strop: size\n",
            "config.yaml:1: `strop: size` marks '{size: 8}', a dict, not one value: strop would replace all of it",
        ),
    ],
)
def test_a_marked_file_without_usable_marks_is_one_line_of_error(
    tmp_path: Path, config: str, expected: str
) -> None:
    with pytest.raises(TaskSpecError) as caught:
        check_files(load_task(yaml_task(tmp_path, config)))
    message = str(caught.value)
    assert expected in message and "\n" not in message and "[proposer.marked]" in message


def test_strop_run_searches_the_yaml_marks(tmp_path: Path) -> None:
    """The real CLI and loop: each candidate's values reach config.yaml, so the experiments differ."""
    (tmp_path / "task").mkdir()
    path = yaml_task(tmp_path / "task", "cache:\n  size: 8  # strop: size\n  policy: fifo  # strop: policy\n")
    assert check_files(load_task(path)) == []  # all marked: no params.json note
    environ = {**os.environ, "STROP_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "run", str(path), "--experiments", "6", "--json"],
        capture_output=True,
        text=True,
        env=environ,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "params.json" not in done.stderr
    result = json.loads(done.stdout)
    assert result["baseline"]["metrics"]["cost"] == 37  # size 8, fifo
    assert result["best"]["metrics"]["cost"] < 37, done.stderr
    best = result["best"]
    (repo,) = (tmp_path / "home" / "repos").iterdir()  # the managed copy of the plain folder
    shown = subprocess.run(
        ["git", "show", f"{best['commit']}:config.yaml"], cwd=repo, capture_output=True, text=True, check=True
    )
    size, policy = best["params"]["size"], best["params"]["policy"]
    assert shown.stdout == f"cache:\n  size: {size}  # strop: size\n  policy: {policy}  # strop: policy\n"


def test_a_crlf_file_keeps_its_line_endings_and_a_comment_on_a_marked_line_stays(tmp_path: Path) -> None:
    """Every line of a CRLF file came back LF (each commit and adopt changed all of them), and the
    user's `# the rate` before `# strop: lr` was replaced with the value."""
    (tmp_path / "conf.py").write_bytes(b"import x\r\nLR = 0.1  # the rate  # strop: lr\r\nOTHER = 2\r\n")
    proposer = ProposerSpec(params_file="", marked=["conf.py"])
    assert space().written(tmp_path, proposer) == {"lr": 0.1}
    text = space().materialise({"lr": 0.2}, tmp_path, proposer)["conf.py"]
    assert text == "import x\r\nLR = 0.2  # the rate  # strop: lr\r\nOTHER = 2\r\n"


@pytest.mark.parametrize(
    ("name", "text", "point", "expected"),
    [
        ("run.sh", "DEBUG=false  # strop: flag\n", {"flag": True}, "DEBUG=true  # strop: flag\n"),
        ("Makefile", "FAST = FALSE  # strop: flag\n", {"flag": True}, "FAST = TRUE  # strop: flag\n"),
        (".env", "MODE=fifo  # strop: policy\n", {"policy": "lru"}, "MODE=lru  # strop: policy\n"),
        ("tool.conf", "size=8  # strop: size\n", {"size": 16}, "size=16  # strop: size\n"),
    ],
)
def test_shell_make_and_env_values_keep_their_own_form(
    tmp_path: Path, name: str, text: str, point: dict, expected: str
) -> None:
    """Python's `True` and `'lru'` were written into shell scripts and .env files, where they mean
    something else (`[ "$DEBUG" = true ]` fails; `--env-file` keeps the quotes)."""
    (tmp_path / name).write_text(text)
    proposer = ProposerSpec(params_file="", marked=[name])
    assert space().materialise(point, tmp_path, proposer)[name] == expected


def test_a_params_file_holding_values_is_rewritten_when_every_active_value_is_marked(tmp_path: Path) -> None:
    """Every active parameter marked (the unmarked `lr` switched off): params.json was left as the
    parent wrote it, saying size 8 and lr 0.01 while the marked line said 32 and no lr was active."""
    (tmp_path / "conf.py").write_text("SIZE = 8  # strop: size\n")
    (tmp_path / "params.json").write_text(json.dumps({"size": 8, "lr": 0.01, "note": "mine"}))
    proposer = ProposerSpec(params_file="params.json", marked=["conf.py"])
    files = space().materialise({"size": 32}, tmp_path, proposer)
    assert files["conf.py"] == "SIZE = 32  # strop: size\n"
    assert json.loads(files["params.json"]) == {"note": "mine", "size": 32}
    (tmp_path / "params.json").write_text(json.dumps({"note": "mine"}))  # no value of the space: left alone
    assert "params.json" not in space().materialise({"size": 32}, tmp_path, proposer)
