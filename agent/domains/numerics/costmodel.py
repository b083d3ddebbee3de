"""The cost model: what one operation of a program costs, measured on this machine.

A plain operation count says a division costs what an fma costs; on every current CPU it
costs several times more, so a search that counts operations favours divisions it should
not. The weights here come from compiled code: `python -m agent.domains.numerics.costmodel`
writes a C loop per operation (a chain of 16 dependent applications per array element, over
an L1-sized array, `-O3 -march=native -ffp-contract=off`, so the compiler vectorises across
elements as it would a real kernel), times it against an empty chain (41 interleaved trials,
the best of each, so that a busy machine's noise falls on every operation alike), and stores
the ns per operation, relative to an fma, in `op_costs.json` beside this module. Reports use these
weights by default (`measured`); `ops` (every operation 1) is kept as an option and printed
beside it. Constant sub-expressions stay free, as in AutoNumerics-Zero.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from agent.domains.numerics.program import ARITY, Program

WEIGHTS_FILE = Path(__file__).with_name("op_costs.json")
SCRIPT = "agent/domains/numerics/costmodel.py"
CHAIN = 16
MODELS = ("measured", "ops")

_KERNEL = {
    "base": "y = y;",
    "add": "y = y + c;",
    "sub": "y = y - c;",
    "mul": "y = y * m;",
    "fma": "y = FMA(y, m, c);",
    "div": "y = m / y;",
    "sqrt": "y = SQRT(y);",
}

_C = r"""
#include <math.h>
#include <stdio.h>
#include <time.h>
typedef __REAL__ real;
#define FMA __FMA__
#define SQRT __SQRT__
#define N 2048
real in[N], out[N]; /* external linkage: the stores are not dead */
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
__FUNCTIONS__
int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 300;
    volatile real vc = (real)1e-3, vm = (real)1.0000001;
    real c = vc, m = vm;
    for (int i = 0; i < N; i++) in[i] = (real)1 + (real)i / N;
    double best[__OPS__];
    for (int k = 0; k < __OPS__; k++) best[k] = 1e30;
    for (int trial = 0; trial < 41; trial++) {  /* interleaved: every op sees the same noise */
        double t;
__CALLS__
    }
    printf("{");
__PRINTS__
    printf("\"_\": 0}\n");
    return 0;
}
"""

_FUNCTION = r"""
__attribute__((noinline)) static void run___OP__(real c, real m) {
    for (int i = 0; i < N; i++) { real y = in[i]; __BODY__ out[i] = y; }
}
static double time___OP__(int reps, real c, real m) {
    double start = now();
    for (int r = 0; r < reps; r++) { run___OP__(c, m); __asm__ volatile("" ::: "memory"); }
    return (now() - start) * 1e9 / ((double)reps * N);
}
"""


@dataclass(frozen=True)
class CostModel:
    """Weights per operation (an fma is 1); `name` is "measured" or "ops"."""

    name: str
    weights: dict[str, float]

    def cost(self, program: Program) -> float:
        """Weighted cost of the operations that depend on x and feed the output."""
        alive, variable = program.live(), program.depends_on_x()
        total = 0.0
        for node, a, v in zip(program.nodes, alive, variable, strict=True):
            if a and v and node.op in ARITY:
                total += self.weights[node.op]
        return round(total, 3)


def _source(real: str) -> str:
    single = real == "float"
    functions, calls, prints = [], [], []
    for k, (op, statement) in enumerate(_KERNEL.items()):
        body = " ".join([statement] * CHAIN)
        functions.append(_FUNCTION.replace("__OP__", op).replace("__BODY__", body))
        calls.append(f"        t = time_{op}(reps, c, m); if (t < best[{k}]) best[{k}] = t;")
        prints.append(f'    printf("\\"{op}\\": %.6f, ", best[{k}]);')
    text = _C.replace("__FUNCTIONS__", "\n".join(functions)).replace("__CALLS__", "\n".join(calls))
    text = text.replace("__PRINTS__", "\n".join(prints)).replace("__OPS__", str(len(_KERNEL)))
    text = text.replace("__REAL__", real).replace("__FMA__", "fmaf" if single else "fma")
    return text.replace("__SQRT__", "sqrtf" if single else "sqrt").replace(
        "<stdio.h>", "<stdio.h>\n#include <stdlib.h>"
    )


def measure(reps: int = 300, compiler: str = "cc") -> dict[str, dict[str, float]]:
    """ns per operation (chain time minus the empty chain, over CHAIN) for float and double."""
    result: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="strop-opcost-") as folder:
        for real in ("float", "double"):
            source, binary = Path(folder) / f"{real}.c", Path(folder) / real
            source.write_text(_source(real))
            flags = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno"]
            subprocess.run([compiler, *flags, "-o", str(binary), str(source), "-lm"], check=True)
            run = subprocess.run([str(binary), str(reps)], capture_output=True, text=True, check=True)
            times = json.loads(run.stdout)
            base = times["base"]
            result[real] = {op: max(times[op] - base, 1e-4) / CHAIN for op in _KERNEL if op != "base"}
    return result


def weights_from(ns: dict[str, float]) -> dict[str, float]:
    """ns per op → weights relative to an fma, two significant digits, never below 0.25."""
    fma = ns["fma"]
    return {op: max(0.25, float(f"{ns[op] / fma:.2g}")) for op in ARITY}


@lru_cache(maxsize=1)
def _stored() -> dict[str, object]:
    return json.loads(WEIGHTS_FILE.read_text())


def cost_model(name: str, format_name: str) -> CostModel:
    """The named model for a format: measured weights from `op_costs.json`, or plain counts."""
    if name == "ops":
        return CostModel("ops", {op: 1.0 for op in ARITY})
    if name != "measured":
        raise ValueError(f"unknown cost model {name!r}; choose one of {', '.join(MODELS)}")
    real = "float" if format_name == "float32" else "double"
    weights = _stored()["weights"]
    assert isinstance(weights, dict)
    return CostModel("measured", {op: float(w) for op, w in weights[real].items()})


def main(argv: list[str] | None = None) -> None:
    """Measure and write `op_costs.json` (run on the machine whose costs you want)."""
    args = sys.argv[1:] if argv is None else argv
    reps = int(args[0]) if args else 300
    ns = {real: {op: round(v, 6) for op, v in values.items()} for real, values in measure(reps).items()}
    data = {
        "script": SCRIPT,
        "command": "python -m agent.domains.numerics.costmodel",
        "machine": platform.processor() or platform.machine(),
        "flags": "-O3 -march=native -ffp-contract=off -fno-math-errno",
        "ns_per_op": ns,
        "weights": {real: weights_from(values) for real, values in ns.items()},
    }
    WEIGHTS_FILE.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
