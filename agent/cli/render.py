"""Shared printing helpers for the CLI: one console on stdout, one on stderr, JSON out."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

__all__ = ["err", "escape", "out", "plural", "print_json", "styled_status"]


def plural(count: int, noun: str) -> str:
    """`1 experiment`, `2 experiments`: a count and its noun, agreeing."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


STATUS_STYLE = {
    "ok": "green",
    "buggy": "red",
    "timeout": "yellow",
    "tampered": "magenta",
    "rejected": "bright_black",
    "pending": "cyan",
}


def styled_status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"
