"""The exhaustive pass keeps time for the speed loops only while they can still run: a run ended at
46 s of --time 75s holding 15 s for a speed phase that was then skipped (no front program under 1 ULP)."""

from agent.domains.numerics.measure import Errors
from agent.domains.numerics.verification import _speed_ahead


def _errors(max_ulp: float) -> Errors:
    return Errors(max_ulp, 1e-7, 0.5, 100)


def test_the_speed_reserve_is_kept_only_while_a_front_program_under_1_ulp_can_be_timed():
    over, under = [_errors(1.4), _errors(2.0)], [_errors(1.4), _errors(0.9)]
    assert _speed_ahead(True, over, front=3, start=2)  # the third front program is not verified yet
    assert not _speed_ahead(True, over, front=2, start=6)  # every front program verified, none under 1 ULP
    assert _speed_ahead(True, under, front=2, start=6)
    assert not _speed_ahead(False, under, front=2, start=6)  # --no-speed: no loops to keep time for
