"""Error signatures: the part of a failure that recurs, with its accidents stripped.

Two crashes are "the same" when their signature is equal: the last line that
names an exception (or a known killer: out of memory, killed, timeout), with
file paths, hex addresses, numbers and line/column positions replaced by
placeholders, whitespace collapsed. Quoted names are kept (`KeyError: 'lr'`
differs from `KeyError: 'seed'`). Regular expressions by hand because no
library normalises tracebacks for this purpose.
"""

from __future__ import annotations

import re

_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\w.~-]*/)+[\w.-]+|\b[\w-]+\.(?:py|so|c|cpp|h|json|toml|csv|txt|log)\b")
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![A-Za-z_])")
_UUIDISH = re.compile(r"\b[0-9a-f]{8,}\b")
_SPACE = re.compile(r"\s+")
_EXCEPTION_LINE = re.compile(
    r"^\s*(?:[\w.]+\.)?(\w*(?:Error|Exception|Exit|Interrupt|Warning|Fault))\b(?::.*)?$"
)
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
    """Replace paths, hex addresses, long hex ids and numbers with placeholders; collapse spaces."""
    text = _HEX.sub("<addr>", text)
    text = _PATH.sub("<path>", text)
    text = _UUIDISH.sub("<id>", text)
    text = _NUMBER.sub("<n>", text)
    return _SPACE.sub(" ", text).strip()


def _exception_line(lines: list[str]) -> str | None:
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return line.strip()
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
    if line is None:
        line = lines[-1].strip() if lines else status
    signature = strip_accidents(line)[:MAX_SIGNATURE]
    if status in ("timeout", "tampered") and not signature.lower().startswith(status):
        signature = f"{status}: {signature}" if signature != status else status
    return signature


def log_excerpt(error_text: str | None, max_lines: int = 8, max_chars: int = 800) -> str:
    """The tail of a log, short enough to keep as evidence."""
    lines = [line for line in (error_text or "").splitlines() if line.strip()]
    return "\n".join(lines[-max_lines:])[-max_chars:]
