import time

from agent.evolution.pool import EvaluationPool
from agent.evolution.toy import ToyDomain


def test_results_come_back_in_submission_order_and_hangs_are_killed():
    domain = ToyDomain(hang_above=2.0, crash_above=2.5, raise_below=-1.5)
    genomes = [(0.5, 0, 0), (2.2, 0, 0), (0.1, 1, 1), (2.7, 0, 0), (-1.8, 0, 0), (1.0, 1, 1)]
    started = time.time()
    with EvaluationPool(domain, workers=2, timeout=3.0) as pool:  # a worker's start-up counts: room for load
        outcomes = pool.evaluate_all(genomes)
        again = pool.evaluate_all([(0.0, 0.0, 0.0)])
    elapsed = time.time() - started
    assert [o.status for o in outcomes] == ["ok", "timeout", "ok", "crashed", "error", "ok"]
    assert outcomes[0].result.objectives == (0.25, 2.25)
    assert outcomes[5].result.objectives == (3.0, 0.0)
    assert "too small" in outcomes[4].error
    assert again[0].status == "ok"  # killed workers were replaced
    assert elapsed < 20, elapsed  # the hang (3600 s) was cut at about 3 s


def test_inline_pool_evaluates_in_process():
    with EvaluationPool(ToyDomain(), workers=0, timeout=None) as pool:
        (outcome,) = pool.evaluate_all([(1.0, 1.0, 1.0)])
    assert outcome.status == "ok" and outcome.result.objectives == (3.0, 0.0)
