"""Every Python parse strop makes, from many threads at once, under a garbage collector that keeps
switching threads: none raises "SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905, CPython 3.11). A `--parallel 2` run died of it 3 times in 4 when two
lanes read their scorer's imports (`sandbox.gate`) at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import gc, sys, threading
    from pathlib import Path

    from agent.expression import parse as rule
    from agent.marks import _python_literal
    from knowledge.chunkers.python import chunk_python
    from sandbox.gate import library_imports

    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    gc.set_threshold(10, 2, 2)  # and collect often: a finaliser runs Python code mid-parse

    class Cycle:
        def __del__(self):
            pass

    stop = False

    def churn():
        while not stop:
            a = Cycle(); b = [a]; a.b = b

    nested = "(" * 30 + "x" + ")" * 30
    source = "import json\\n" + "\\n".join(
        f"def f{i}(x):\\n    return [{nested} for _ in range(3)]" for i in range(200)
    )
    script = Path(sys.argv[1])
    script.write_text(source)
    literal = "[" + ", ".join(f"({nested.replace('x', str(i))}, [1, [2, [3]]])" for i in range(300)) + "]"
    formula = " and ".join(f"(a + {i}) * (b - {i}) < {nested.replace('x', 'c')}" for i in range(20))
    errors = []

    def work(call):
        for _ in range(25):
            try:
                call()
            except SystemError as error:
                errors.append(repr(error))

    calls = [
        lambda: library_imports(script),
        lambda: _python_literal(literal),
        lambda: chunk_python(source, "m"),
        lambda: rule(formula),
    ]
    threading.Thread(target=churn, daemon=True).start()
    threads = [threading.Thread(target=work, args=(calls[i % 4],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop = True
    print(len(errors), errors[:1])
    """
)


def test_parses_from_many_threads_at_once_never_raise_systemerror(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "score.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("0 "), done.stdout
