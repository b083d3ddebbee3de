"""Reading a scorer's metrics as Windows tools write them, and saying what was not read.

A UTF-8 byte-order mark before the JSON line on stdout, or at the start of `metrics_file`
(or a UTF-16 file, as PowerShell's `Out-File` writes it), made every experiment buggy: on
stdout with a reason that quoted valid JSON as "no JSON object line" (the mark was dropped
from the quote as unprintable), in a file with "Unexpected UTF-8 BOM". Other metrics that
are not finite numbers (`null`, `NaN`, strings) vanished from the record with no word.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluators.command import METRICS_FILE_LOGGED
from evaluators.metrics_output import MetricsError, last_json_object, validate_metrics
from evaluators.staged import StagedEvaluator
from evaluators.verdict import Status
from tests.sandbox.support import final_phase_evaluator

DATA = {"work/run.py": "pass\n", "public/x": "", "private/x": "", "final_public/x": "", "final_private/x": ""}


def evaluator(tmp_path: Path, score: str, **spec: str) -> StagedEvaluator:
    files = {**DATA, "scorer/score.py": score}
    return final_phase_evaluator(tmp_path, files, **spec)


def test_a_byte_order_mark_before_the_printed_line_is_read_as_absent(tmp_path: Path) -> None:
    score = 'import sys\nsys.stdout.buffer.write(b"log line\\n\\xef\\xbb\\xbf{\\"rows\\": 4}\\r\\n")\n'
    verdict = evaluator(tmp_path, score).evaluate(tmp_path / "work", "0")
    assert verdict.status is Status.OK and verdict.metrics == {"rows": 4.0}, verdict.reason
    assert verdict.reason == ""


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_metrics_file_with_a_byte_order_mark_is_read_and_logged(tmp_path: Path, encoding: str) -> None:
    score = f'open("m.json", "w", encoding="{encoding}").write(\'{{\\n  "rows": 4, "seconds": 1.5\\n}}\')\n'
    verdict = evaluator(tmp_path, score, metrics_file="m.json").evaluate(tmp_path / "work", "0")
    assert verdict.status is Status.OK and verdict.metrics == {"rows": 4.0, "seconds": 1.5}, verdict.reason
    log = Path(verdict.log_path).read_text()
    assert log.endswith(f"{METRICS_FILE_LOGGED}{json.dumps(verdict.metrics)}\n"), log[-300:]


@pytest.mark.parametrize("where", ["printed", "file"])
def test_a_metric_given_two_values_is_no_score(tmp_path: Path, where: str) -> None:
    """JSON keeps a repeated key's last value: `{"rows": 4, "rows": 9}` scored 9, silently."""
    line = '{"rows": 4, "seconds": 1.5, "rows": 9}'
    score = f"print('{line}')\n" if where == "printed" else f"open('m.json', 'w').write('{line}')\n"
    spec = {"metrics_file": "m.json"} if where == "file" else {}
    verdict = evaluator(tmp_path, score, **spec).evaluate(tmp_path / "work", "0")
    assert verdict.status is not Status.OK and verdict.metrics == {}, verdict
    assert "names 'rows' twice (4, then 9)" in verdict.reason, verdict.reason
    assert last_json_object('{"rows": 4, "rows": 4}') == {"rows": 4}  # the same value twice says one thing
    nested = '{"rows": 4, "per_class": {"cat": 1, "cat": 2}}'  # no metric: not judged
    assert last_json_object(nested)["rows"] == 4
    with pytest.raises(MetricsError, match="names 'rows' twice"):
        last_json_object('{"rows": 1, "rows": true}')  # 1 and true say different things


def test_metrics_that_are_not_numbers_are_named_in_the_reason(tmp_path: Path) -> None:
    score = 'print(\'{"rows": 4, "cpu": null, "aux_nan": NaN, "ok": 1, "tag": "a", "per": [1], "by": {}}\')\n'
    verdict = evaluator(tmp_path, score).evaluate(tmp_path / "work", "0")
    assert verdict.status is Status.OK and verdict.metrics == {"rows": 4.0, "ok": 1.0}, verdict.reason
    assert verdict.reason == (
        "other metrics left out, not finite numbers: cpu (null), aux_nan (NaN), tag (a string) and 2 more"
    )


def test_the_note_counts_metrics_past_the_limit_and_quotes_odd_keys() -> None:
    raw: dict[str, object] = {"m": 1, "\x1b[2J": None, **{f"k{i}": i for i in range(70)}}
    parsed = validate_metrics(raw, "m")
    assert len(parsed.metrics) == 64 and "'\\x1b[2J' (null)" in parsed.note, parsed.note
    assert "7 numeric metric(s) left out past the 64 kept" in parsed.note
    assert validate_metrics({"m": 1, "n": 2}, "m").note == ""


@pytest.mark.parametrize(
    ("printed", "said"),
    [
        (
            "{'rows': 4}",
            "its last line shaped like one, \"{'rows': 4}\", is not JSON: Expecting property name",
        ),
        ('\u200b{"rows": 4}', "its last line: '\\u200b{\"rows\": 4}'"),
        ('{"rows"\ufeff: 4}', "its last line shaped like one, '{\"rows\"\\ufeff: 4}', is not JSON"),
        ("done\xa0\x1b[0m", "its last line: 'done\\xa0\\x1b[0m'"),
    ],
)
def test_a_line_that_is_not_read_is_quoted_with_its_invisible_characters(printed: str, said: str) -> None:
    with pytest.raises(MetricsError) as caught:
        last_json_object(f"starting\n{printed}\n", "rows")
    message = str(caught.value)
    assert message.startswith('the evaluator printed no JSON object line such as {"rows": 0.93} on stdout')
    assert said in message, message
