"""Count the primes below LIMIT with the method params.json names; write the count for the scorer.

Stage `run`: strop measures its CPU time from outside the sandbox; the scorer checks the count.
"""

import json
import math
import os
from pathlib import Path

LIMIT = 500_000


def trial(limit: int, odd_only: bool) -> int:
    """Trial division by the primes found so far, up to the square root (slow on purpose)."""
    primes: list[int] = []
    start, step = (3, 2) if odd_only else (2, 1)
    for n in range(start, limit, step):
        root = math.isqrt(n)
        if all(n % p for p in primes if p <= root):
            primes.append(n)
    return len(primes) + (1 if odd_only and limit > 2 else 0)


def sieve(limit: int, odd_only: bool) -> int:
    """Eratosthenes over a bytearray (odd numbers only: half the memory and work)."""
    if odd_only:
        size = limit // 2  # index i stands for 2i + 1
        flags = bytearray([1]) * size
        flags[0] = 0
        for i in range(1, (math.isqrt(limit - 1) - 1) // 2 + 1):
            if flags[i]:
                p = 2 * i + 1
                flags[p * p // 2 :: p] = bytes(len(range(p * p // 2, size, p)))
        return sum(flags) + 1
    flags = bytearray([1]) * limit
    flags[0:2] = b"\0\0"
    for p in range(2, math.isqrt(limit - 1) + 1):
        if flags[p]:
            flags[p * p :: p] = bytes(len(range(p * p, limit, p)))
    return sum(flags)


def segmented(limit: int, odd_only: bool, segment: int) -> int:
    """Eratosthenes one segment at a time: the base primes up to the root, then each window."""
    root = math.isqrt(limit - 1)
    base = [p for p in range(2, root + 1) if all(p % q for q in range(2, math.isqrt(p) + 1))]
    count = 0
    for low in range(0, limit, segment):
        high = min(low + segment, limit)
        window = bytearray([1]) * (high - low)
        for p in base:
            first = max(p * p, (low + p - 1) // p * p)
            window[first - low :: p] = bytes(len(range(first - low, high - low, p)))
        if low == 0:
            window[0 : min(2, high)] = bytes(min(2, high))
        count += sum(window)
    return count


if __name__ == "__main__":
    params = json.loads((Path(__file__).parent / "params.json").read_text())
    method, odd_only = params.get("method", "trial"), bool(params.get("odd_only", False))
    if method == "sieve":
        count = sieve(LIMIT, odd_only)
    elif method == "segmented":
        count = segmented(LIMIT, odd_only, int(params.get("segment", 65536)))
    else:
        count = trial(LIMIT, odd_only)
    (Path(os.environ["STROP_OUTPUTS"]) / "answer.json").write_text(json.dumps({"count": count}))
