"""Redaction: the API key kept out of everything a server sends back, and credentials out of URLs.

The key lives only inside the `openai` client. A server may echo it (in an error, or in an
answer, also spelled with JSON escapes); `Redactor.redact` is applied to all of it before
strop keeps, shows or sends it on. What an endpoint says in an error (or where it redirects)
is shown on one line without control characters (`printable_line`): an ESC sequence in it
would retitle, clear or recolour the user's terminal.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_REDACTED = "[redacted]"


class Redactor:
    """Replaces the secrets it was given (those of 4 characters or more), however a server spells them."""

    def __init__(self, *secrets: str) -> None:
        self._secrets = tuple(s for s in secrets if len(s) >= 4)
        self._spelled = tuple(_escaped_spellings(secret) for secret in self._secrets)

    def redact(self, text: str) -> str:
        """`text` with the key's value (if any) replaced; applied to everything a server sends back."""
        for secret, spelled in zip(self._secrets, self._spelled, strict=True):
            text = text.replace(secret, _REDACTED)
            if "\\" in text:  # JSON's \u0073 spelling decodes to the key once an answer is parsed
                text = spelled.sub(_REDACTED, text)
        return text


def printable_line(text: str) -> str:
    """`text` on one line without control characters, as the CLI shows untrusted text.

    The CLI's `printable` is the one definition of what is removed; it is imported here when
    an error is described, not when this module is, because importing the CLI loads all of it.
    """
    from agent.cli.render import printable

    return printable(text, one_line=True)


def safe_url(url: str) -> str:
    """The URL without user:password and query (which may hold credentials), for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _escaped_spellings(secret: str) -> re.Pattern[str]:
    """The key written with any of its characters as a JSON escape (\\u0073, \\/): parsed, it is the key."""
    pieces = []
    for char in secret:
        options = [re.escape(char), f"\\\\u{ord(char):04x}"]
        if char == "/":
            options.append(r"\\/")
        pieces.append("(?:" + "|".join(options) + ")")
    return re.compile("".join(pieces), re.IGNORECASE)
