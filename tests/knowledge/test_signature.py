"""Error signatures: the recurring part of a failure, with paths, numbers and addresses stripped."""

from __future__ import annotations

from knowledge.memory.signature import error_signature, log_excerpt, strip_accidents

TRACE_A = """Traceback (most recent call last):
  File "/tmp/strop/wt/exp-0041/train.py", line 88, in <module>
    model.fit(x, y)
ValueError: shapes (128,64) and (32,10) not aligned: 64 (dim 1) != 32 (dim 0)
"""
TRACE_B = TRACE_A.replace("exp-0041", "exp-0977").replace("128", "256").replace("line 88", "line 90")


def test_same_error_in_other_runs_has_the_same_signature() -> None:
    a, b = error_signature("buggy", TRACE_A), error_signature("buggy", TRACE_B)
    assert a == b
    assert a.startswith("ValueError: shapes") and "128" not in a and "<n>" in a


def test_paths_hex_and_quoted_names() -> None:
    sig = error_signature("buggy", "RuntimeError: bad tensor at 0x7f3a9c00 in /home/u/x/y.py:12")
    assert sig == "RuntimeError: bad tensor at <addr> in <path>:<n>"
    assert error_signature("buggy", "KeyError: 'lr'") != error_signature("buggy", "KeyError: 'seed'")


def test_killers_without_an_exception_line() -> None:
    assert error_signature("buggy", "step 5\nKilled") == "killed"
    assert error_signature("buggy", "CUDA out of memory. Tried to allocate 2.00 GiB") == "out of memory"
    assert error_signature("timeout", "") == "timeout"
    assert error_signature("buggy", None) == "buggy"


def test_last_exception_wins_and_excerpt_is_the_tail() -> None:
    text = "KeyError: 'a'\nDuring handling...\nTypeError: unsupported operand"
    assert error_signature("buggy", text) == "TypeError: unsupported operand"
    assert log_excerpt("\n".join(str(i) for i in range(100)), max_lines=3) == "97\n98\n99"


def test_only_standalone_numbers_are_masked_not_digits_inside_a_name() -> None:
    """`ValueError: p75 e1` read `ValueError: p7<n> e1`: the tail of a name taken for a number."""
    assert error_signature("buggy", "ValueError: p75 e1") == "ValueError: p75 e1"
    names = "float32 x86_64 log2 resnet-50 3x3 v2.0 cuda:0"
    assert strip_accidents(names) == "float32 x86_64 log2 resnet-50 3x3 v2.0 cuda:<n>"
    assert (
        strip_accidents("diverged at step 18 (lr=0.55), lr=-1e-3") == "diverged at step <n> (lr=<n>), lr=<n>"
    )
    assert strip_accidents("took 30s and 2GiB, numpy 1.24.3, shape [3, 4]") == (
        "took <n>s and <n>GiB, numpy <n>, shape [<n>, <n>]"
    )
