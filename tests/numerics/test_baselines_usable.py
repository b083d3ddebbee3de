"""Baselines that cannot compute the function on the interval are left out, each with its reason."""

import warnings

from agent.domains.numerics.baselines import baseline_programs, usable_baselines
from agent.domains.numerics.domain import NumericsDomain


def test_a_pade_with_its_pole_inside_the_interval_is_left_out_and_says_so():
    """exp's pade-1/1 at the centre of [-5, -1] is (1 + t/2)/(1 − t/2), t = x + 3: a pole at x = -1."""
    domain = NumericsDomain("exp", -5.0, -1.0, "float64", max_cost=4, cost_model_name="ops")
    named = baseline_programs(domain)
    assert "pade-1/1" in dict(named)
    kept, notes = usable_baselines(domain, named)
    assert "pade-1/1" not in dict(kept) and "minimax-2" in dict(kept)
    assert "baseline pade-1/1 left out: its denominator vanishes on the interval (a pole inside it)" in notes


def test_coefficients_past_float32_on_a_narrow_interval_are_left_out_quietly():
    """log on [1, 1.0001]: a degree-14 fit in t ≤ 1e-4 needs coefficients past float32's range; the
    overflowing cast warned on stderr mid-run, and the baseline sat in the report at inf ULP."""
    domain = NumericsDomain("log", 1.0, 1.0000998973846436, "float32", max_cost=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        kept, notes = usable_baselines(domain, baseline_programs(domain))
    assert any("coefficients overflow float32" in note for note in notes)
    assert all(not note.startswith("baseline minimax-2 ") for note in notes)
    assert "minimax-2" in dict(kept)


def test_baselines_out_of_time_say_how_many_were_fitted_after_one_fit():
    """Past the time they had, the fits stop after the first (whose pace tells the rest) with the
    counts that let the command name the `--time` that would do; before, the same words came with
    no figure, and `--time 20s`, `30s`, `40s` each failed in turn."""
    import pytest

    from agent.deadline import Deadline
    from agent.domains.numerics.baselines import BaselinesOutOfTime

    domain = NumericsDomain("exp", -1.0, 1.0, "float64", max_cost=6, cost_model_name="ops")
    said: list[str] = []
    with pytest.raises(BaselinesOutOfTime) as caught:
        baseline_programs(domain, said.append, Deadline(0.0))
    short = caught.value
    assert short.done == 1 and short.total > 1 and len(said) == 1
    assert short.needed() == pytest.approx(short.seconds * short.total)
    assert f"fitted 1 of {short.total}" in str(short)
