"""The environment a sandboxed command sees: minimal, and never a secret.

A candidate is untrusted, so it starts from an empty environment; only a few
harmless names are kept, and anything whose name looks like a credential
(*KEY*, *TOKEN*, *SECRET*, *PASSWORD*, …) is dropped even when a caller passes it.

A command can still find a secret where no environment of ours puts it: on the `local`
backend it reads /proc/PID/environ of strop and of the shell that started it. So what a
command prints is passed through `redact` before it reaches a log, a report or an LLM:
the value of every secret-named variable of strop's own environment is replaced by its
name. A candidate that encodes the value first gets past this; it stops a plain echo.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

SECRET_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|AUTH|COOKIE|SESSION"
    r"|(?:^|_)(?:PASS|PAT|DSN)(?:_|$)|_PWD$",  # DB_PASS, GH_PAT, SENTRY_DSN, MYSQL_PWD (not PATH, PWD)
    re.IGNORECASE,
)
_KEPT = ("LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


_DECLARED: set[str] = set()
"""Variables named as holding a secret though their names do not look it (`[llm] api_key_env =
"MY_LLM"`): a candidate on `local` read such a key from /proc and its plain echo was recorded."""


def declare_secret(name: str) -> None:
    """Treat the variable `name` as a secret from now on, whatever its name looks like."""
    _DECLARED.add(name)


def is_secret_name(name: str) -> bool:
    return name in _DECLARED or bool(SECRET_NAME.search(name))


MIN_SECRET = 8
"""Shorter values are not redacted: they would match ordinary text."""


def redact(text: str) -> str:
    """`text` with the value of every secret-named (or declared) variable of our environment replaced."""
    for name, value in os.environ.items():
        if len(value) >= MIN_SECRET and is_secret_name(name) and value in text:
            text = text.replace(value, f"[{name} redacted]")
    return text


def python_bin_dir() -> Path:
    """The folder holding the interpreter strop runs under (its venv's bin, usually)."""
    return Path(sys.executable).parent


def clean_environment(extra: Mapping[str, str] | None = None, home: str = "/tmp") -> dict[str, str]:
    """A minimal environment: PATH with strop's interpreter first, HOME, locale, no secrets."""
    env = {
        "PATH": f"{python_bin_dir()}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "MPLBACKEND": "Agg",
    }
    for name in _KEPT:
        if name in os.environ:
            env[name] = os.environ[name]
    for name, value in (extra or {}).items():
        if not is_secret_name(name):
            env[name] = value
    return env
