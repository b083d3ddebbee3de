"""A fast baseline given no time left starts none of HAWQ's table: no torch, no Hessian traces.

`--time 20s --baselines fast` on digits-cnn gave greedy a share already spent (≤ 0 s), and it
still ran 6.5 s: building HAWQ's option table imports torch and computes every layer's
Hessian trace before its first deadline check, and the command overran its --time. The
deadline is checked before the traces now.
"""

from __future__ import annotations

import time

import pytest

from agent.deadline import Deadline
from agent.domains.quantization import baselines
from agent.domains.quantization.domain import QuantDomain
from agent.domains.quantization.search import SearchRequest, build_domain


@pytest.mark.parametrize("baseline", ["greedy", "hawq"])
def test_a_baseline_given_no_time_computes_no_hessian_traces(
    monkeypatch: pytest.MonkeyPatch, baseline: str
) -> None:
    domain = build_domain(SearchRequest(model="digits-cnn", budget_bits=3.0))
    traced: list[int] = []
    real = QuantDomain.layer_traces
    monkeypatch.setattr(
        QuantDomain, "layer_traces", lambda self, seed: (traced.append(seed), real(self, seed))[1]
    )
    spent = Deadline(time.time() - 1.0)
    started = time.monotonic()
    result = getattr(baselines, baseline)(domain, 0, spent)
    assert result == baselines.BaselineResult(None, 0, cut=True)
    assert traced == [], "the Hessian traces were computed after the deadline had passed"
    assert time.monotonic() - started < 1.0


def test_greedy_whose_measurements_the_time_skips_says_it_was_cut() -> None:
    """A `measure` deadline with no time left made greedy descend on Ω alone without measuring,
    yet it returned cut=False: the report showed no "(cut by time)" for it."""
    domain = build_domain(SearchRequest(model="digits-mlp", budget_bits=3.0))
    full = baselines.greedy(domain, 0)
    assert not full.cut and full.evaluations > 1
    skipped = baselines.greedy(domain, 0, measure=Deadline(time.time() - 1.0))
    assert skipped.genome is not None
    assert skipped.evaluations < full.evaluations
    assert skipped.cut, "greedy's measured descent was skipped by time, and it did not say so"
