"""An older strop's evaluation logs are read as theirs: an upgrade is no tampering.

Before e6805e3 a one-stage log's header was `$ COMMAND` and the backend line, no `# stage`
name; `strop audit` looked for the named header only and told every such run's user that its
notes were edited after the evaluation ("do not trust its score"), on runs nobody touched.
"""

from __future__ import annotations

from agent.loop.provenance import _metrics_mismatch
from evaluators.spec import EvaluatorSpec

SPEC = EvaluatorSpec(
    command="python evaluate.py", final="python evaluate.py --final", metric="accuracy", direction="maximize"
)
OLD = (
    "$ python evaluate.py\n# backend=docker exit=0 killed_by=None wall=1.496s\n--- stdout ---\n"
    '{"accuracy": 0.82, "fit_seconds": 0.037}\n\n--- stderr ---\n'
)
NOW = OLD.replace("$ python evaluate.py\n", "$ python evaluate.py   # stage evaluator\n")


def test_an_older_one_stage_log_gives_its_metrics() -> None:
    for log in (OLD, NOW):
        assert _metrics_mismatch(log, SPEC, "validate", {"accuracy": 0.82, "fit_seconds": 0.037}) == ""
        said = _metrics_mismatch(log, SPEC, "validate", {"accuracy": 0.9, "fit_seconds": 0.037})
        assert said == "accuracy = 0.9 recorded, 0.82 logged"


def test_a_log_of_another_command_is_still_no_output_of_the_stage() -> None:
    other = OLD.replace("$ python evaluate.py\n", "$ python forged.py\n")
    assert (
        _metrics_mismatch(other, SPEC, "validate", {"accuracy": 0.82})
        == "the log holds no output of stage evaluator"
    )
