"""The accumulator check against a brute-force worst case on small layers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from agent.domains.quantization.accumulator import check_layer, gene_is_safe, input_range


def brute_force_safe(q: np.ndarray, group: int, input_bits: int, acc_bits: int, signed: bool) -> bool:
    lo, hi = input_range(input_bits, signed)
    top, bottom = 2 ** (acc_bits - 1) - 1, -(2 ** (acc_bits - 1))
    for row in q:
        for start in range(0, len(row), group):
            part = row[start : start + group]
            for x in itertools.product(range(lo, hi + 1), repeat=len(part)):
                if not bottom <= int(np.dot(part, x)) <= top:
                    return False
    return True


@pytest.mark.parametrize("signed", [False, True])
def test_matches_brute_force_on_small_layers(signed: bool) -> None:
    rng = np.random.default_rng(1)
    agreements = {True: 0, False: 0}
    for trial in range(40):
        q = rng.integers(-4, 5, size=(3, 4))
        group = (2, 4)[trial % 2]
        for acc_bits in (4, 5, 6, 7):
            verdict = check_layer(q, group, 2, acc_bits, signed)
            expected = brute_force_safe(q, group, 2, acc_bits, signed)
            assert verdict.safe == expected, (q, group, acc_bits)
            agreements[expected] += 1
            if not verdict.safe:
                x = np.array(verdict.counterexample)
                lo, hi = input_range(2, signed)
                assert x.min() >= lo and x.max() <= hi
                part = q[verdict.channel, verdict.group * group : (verdict.group + 1) * group]
                value = int(np.dot(part, x))
                assert value > 2 ** (acc_bits - 1) - 1 or value < -(2 ** (acc_bits - 1))
    assert agreements[True] > 10 and agreements[False] > 10  # both outcomes exercised


def test_a2q_data_free_bound_is_sound() -> None:
    for group, qmax, acc in [(4, 3, 6), (4, 1, 5), (8, 7, 9), (2, 7, 7)]:
        if gene_is_safe(group, qmax, 2, acc, False):
            worst = np.full((1, group), qmax)
            assert check_layer(worst, group, 2, acc).safe
            assert brute_force_safe(worst, group, 2, acc, False)


def test_wide_layer_proof_and_counterexample_are_fast() -> None:
    q = np.random.default_rng(0).integers(-7, 8, size=(64, 128))
    assert check_layer(q, 128, 8, 24).safe
    verdict = check_layer(q, 128, 8, 16)
    assert not verdict.safe and verdict.counterexample is not None and verdict.worst > verdict.limit
