"""Whether a host is this machine: the web UI binds without a token only there, and the LLM's
endpoint and a Ray cluster off it are said before anything is sent (`agent.llm.reach`)."""

from __future__ import annotations

import ipaddress


def loopback_host(host: str) -> bool:
    """`localhost` (or a name under it), 127.0.0.0/8 or ::1."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
