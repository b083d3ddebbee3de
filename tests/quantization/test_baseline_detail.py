"""A baseline that ends with no config says why: its deadline, or nothing inside the budget.

With `--model minilm --time 60s` the fast baselines said "nothing inside the budget (stopped by
its deadline)": time ran out, the budget had nothing to do with it. And the reference rows ran
with no time limit (~14 s for MiniLM), spending the fast baselines' share.
"""

from __future__ import annotations

import time

from agent.deadline import Deadline
from agent.domains.quantization import search
from agent.domains.quantization.search import SearchRequest, build_domain
from agent.domains.quantization.timeplan import TimePlan


def test_no_config_by_the_deadline_is_not_called_nothing_inside_the_budget() -> None:
    assert search._detail(None, cut=True) == "no config before its deadline"
    assert search._detail(None, cut=False) == "nothing inside the budget"


def test_the_reference_rows_stop_at_the_fast_baselines_deadline() -> None:
    request = SearchRequest(model="digits-mlp", budget_bits=3.0, baselines="fast")
    domain = build_domain(request)
    spent = Deadline(time.time() - 1.0)
    plan = TimePlan.make(0.0, "fast")
    phases = search._Phases(lambda event: None)
    found = search._fast_baselines(domain, request, spent, plan, phases)
    assert not [name for name in found if name.startswith("uniform_int")], found
