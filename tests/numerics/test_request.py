"""A request's interval as a user types it: decimal ends, rounded inward to the format."""

import numpy
import pytest

from agent.domains.numerics.request import NumericsInputError, Request


def test_decimal_ends_are_rounded_inward_to_float32():
    """`--interval 1,1.0001` names no float32 numbers; the request takes those inside it."""
    request = Request(fn="log", lo=1.0, hi=1.0001, dtype="float32").rounded()
    assert request.lo == 1.0
    assert request.hi <= 1.0001 and request.hi == float(numpy.float32(request.hi))
    assert float(numpy.nextafter(numpy.float32(request.hi), numpy.float32(2))) > 1.0001


def test_an_end_near_the_domain_edge_stays_inside_it():
    """-0.99999999 rounds to nearest float32 as -1, where log1p is -inf: inward keeps it defined."""
    request = Request(fn="log1p", lo=-0.99999999, hi=0.0, dtype="float32").rounded()
    assert -0.99999999 <= request.lo < -0.9999999  # the float32 just above -1


def test_ends_past_the_format_are_one_clear_error():
    with pytest.raises(NumericsInputError, match="largest float32 number"):
        Request(fn="atan", lo=1e39, hi=1e40, dtype="float32").validate()


def test_an_interval_with_no_room_between_its_rounded_ends_says_widen_it():
    with pytest.raises(NumericsInputError, match="fewer than 16 float32 numbers: widen it"):
        Request(fn="exp", lo=1.0000000001, hi=1.0000000002, dtype="float32").validate()
