"""Error signatures: the part of a failure that recurs, with its accidents stripped.

Two crashes are "the same" when their signature is equal: the last line that
names an exception (or a known killer: out of memory, killed, timeout), with
file paths, hex addresses, numbers and line/column positions replaced by
placeholders, whitespace collapsed. A number is masked only where it stands
alone (or before its unit): the digits of a name (`p75`, `float32`, `log2`) are
the name, not an accident. Quoted names are kept (`KeyError: 'lr'`
differs from `KeyError: 'seed'`). Regular expressions by hand because no
library normalises tracebacks for this purpose.

The same crash reaches memory in two wordings: a failed experiment's log tail
(`RuntimeError: bad shape`) and, as the parent of its fix, the verdict's reason,
which strop prefixes with the stage (`the candidate's run stage exited with
status 1: RuntimeError: bad shape`). Both must key alike, or the failure's
lesson never gets its fix: so the exception is found anywhere in a line, not
only at its start, and without one strop's own stage prefix is dropped.
"""

from __future__ import annotations

import re

from knowledge.memory.lesson import visible

_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\w.~-]*/)+[\w.-]+|\b[\w-]+\.(?:py|so|c|cpp|h|json|toml|csv|txt|log)\b")
_NUMBER = re.compile(r"(?<![\w.])(?<![A-Za-z_]-)[-+]?\d+(?:\.\d+)*(?:[eE][-+]?\d+)?(?=[A-Za-z]*\b)")
"""A standalone number (`12`, `-0.55`, `1e-3`, `1.24.3`), or one with a unit after it (`30s`, `2GiB`):
not digits inside a word (`p75`, `e1`, `float32`, `x86_64`, `log2`, `3x3`, `resnet-50`), which are part
of a name and stay, and never the tail of one (`p75` read as `p7<n>`)."""
_UUIDISH = re.compile(r"\b[0-9a-f]{8,}\b")
_SPACE = re.compile(r"\s+")
_EXCEPTION = re.compile(
    r"(?<![\w.])(?:[\w.]+\.)?\w*(?:Error|Exception|Exit|Interrupt|Warning|Fault)\b(?::.*|\s*$)"
)
"""An exception name and what follows it: `ValueError: x`, `torch.cuda.OutOfMemoryError`, at the
start of a line or after other words (`… status 1: RuntimeError: x`); not `raise RuntimeError(`."""
_STAGE_PREFIX = re.compile(
    r"^the [\w' .-]{1,60}? (?:exited with status -?\d+|was killed[^:]{0,40}|ran past its [^:]{1,40})"
    r"(?::\s*|$)"
)
"""The words strop puts before a failed stage's last output line (`evaluators.command.failed_run`)."""
_KILLERS = (
    (
        re.compile(r"out of memory|\bOOM\b|MemoryError|cannot allocate memory|std::bad_alloc", re.I),
        "out of memory",
    ),
    (re.compile(r"\bkilled\b|SIGKILL|signal 9", re.I), "killed"),
    (re.compile(r"segmentation fault|SIGSEGV|core dumped", re.I), "segmentation fault"),
    (re.compile(r"timed? ?out|timeout|deadline exceeded", re.I), "timeout"),
)
MAX_SIGNATURE = 240


def strip_accidents(text: str) -> str:
    """Replace paths, hex addresses, long hex ids and numbers with placeholders; collapse spaces.
    Only `visible` characters are kept: a terminal escape a candidate printed is no part of a key,
    and a key is shown (`strop memory list`). Chat tokens stay, for `Lesson.quoted` to withhold."""
    text = visible(text)
    text = _HEX.sub("<addr>", text)
    text = _PATH.sub("<path>", text)
    text = _UUIDISH.sub("<id>", text)
    text = _NUMBER.sub("<n>", text)
    return _SPACE.sub(" ", text).strip()


def _exception_line(lines: list[str]) -> str | None:
    """From the last line naming an exception, that exception and what follows it."""
    for line in reversed(lines):
        found = _EXCEPTION.search(line)
        if found:
            return found.group(0).strip()
    return None


def error_signature(status: str, error_text: str | None) -> str:
    """The normalised signature of a failed experiment, e.g. `ValueError: shapes <n> and <n> differ`."""
    text = error_text or ""
    lines = [line for line in text.splitlines() if line.strip()]
    line = _exception_line(lines)
    if line is None:
        for pattern, name in _KILLERS:
            if pattern.search(text):
                line = name
                break
    if line is None and lines:
        last = lines[-1].strip()
        line = _STAGE_PREFIX.sub("", last).strip() or last
    if line is None:
        line = status
    signature = strip_accidents(line)[:MAX_SIGNATURE]
    if status in ("timeout", "tampered") and not signature.lower().startswith(status):
        signature = f"{status}: {signature}" if signature != status else status
    return signature


def log_excerpt(error_text: str | None, max_lines: int = 8, max_chars: int = 800) -> str:
    """The tail of a log, short enough to keep as evidence."""
    lines = [line for line in (error_text or "").splitlines() if line.strip()]
    return "\n".join(lines[-max_lines:])[-max_chars:]
