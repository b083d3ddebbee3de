"""An `[llm] base_url` carrying credentials is refused at load, and the refusal never repeats them.

The task file is kept with every run's record: `user:password@` or `?key=` in its URL reached
git (refs/strop/runs), the run index and `strop log --json`. With a user:password the client also
sent HTTP Basic auth, so the key named by `api_key_env` was silently never sent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import TaskSpecError
from agent.task import load_task

TASK = """[task]
name = "t"
goal = "g"
workspace = "ws"

[evaluator]
command = "python bench.py"
metric = "score"
direction = "maximize"
timeout = "20s"

[llm]
base_url = "{url}"
model = "m"
"""


def _task(tmp_path: Path, url: str) -> Path:
    (tmp_path / "ws").mkdir(exist_ok=True)
    (tmp_path / "ws" / "bench.py").write_text("print(1)\n")
    (tmp_path / "task.toml").write_text(TASK.format(url=url))
    return tmp_path / "task.toml"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://user:hunter2PASS@127.0.0.1:8000/v1", "a user name or password"),
        ("http://127.0.0.1:8000/v1?key=QSECRET", "a credential in its query (key=…)"),
        ("https://example.org/v1?api_key=QSECRET&x=1", "a credential in its query (api_key=…)"),
    ],
)
def test_a_url_with_credentials_is_refused_without_repeating_them(
    tmp_path: Path, url: str, said: str
) -> None:
    with pytest.raises(TaskSpecError) as caught:
        load_task(_task(tmp_path, url))
    message = str(caught.value)
    assert said in message and "api_key_env" in message
    assert "hunter2PASS" not in message and "QSECRET" not in message


def test_a_url_with_a_plain_query_loads(tmp_path: Path) -> None:
    task = load_task(_task(tmp_path, "https://example.org/openai/v1?api-version=2024-06-01"))
    assert task.spec.llm is not None and task.spec.llm.base_url.endswith("api-version=2024-06-01")
