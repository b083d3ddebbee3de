"""Which local user a TCP connection comes from: the uid owning the client's socket.

`strop ui` on 127.0.0.1 answers without a token, so that the user's own browser and curl
need none; but every local user can reach 127.0.0.1, and read through it the runs, logs and
diffs the user's 0700 home keeps from them. The UI refuses a connection another user's
process opened, which it learns here.

Hand-written because no library gives it: SO_PEERCRED answers for Unix sockets only, and
psutil's `net_connections` gives a socket's pid, not its uid, found by reading every
process's open files, which a user may not do for another's. The kernel itself lists every
TCP socket of the network namespace, with the uid that made it, in /proc/net/tcp and
/proc/net/tcp6, to any reader: the client's socket is the row whose local address is the
client's address and port, and whose remote address is the server's.

Where no table can be read (no /proc, not Linux), who the peer is cannot be told
(`Unknowable`), and the UI keeps its earlier rule: loopback answers without a token.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Sequence
from pathlib import Path

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
"""The kernel's tables of TCP sockets, IPv4 and IPv6, as (IPv4 table, IPv6 table)."""

_UID = 7  # columns: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
READS = 3
"""Reads of the tables before a socket is taken as absent: the kernel writes a long table a page
per read, and a socket opened or closed meanwhile can make it skip a row."""


class Unknowable(Exception):
    """No table of TCP sockets could be read: which user a peer is cannot be told here."""


def socket_owner(
    local: tuple[str, int], remote: tuple[str, int], tables: Sequence[Path] = TABLES
) -> int | None:
    """The uid owning the TCP socket bound at `local` and connected to `remote`; None when no
    socket is (a connection gone). Raises `Unknowable` where no table can be read, or an
    address is no IP (an in-process client, a Unix socket): no TCP socket to look up."""
    try:
        wanted = _rows(local, remote)
    except ValueError:
        raise Unknowable(f"{local[0]!r} or {remote[0]!r} is no IP address") from None
    for _ in range(READS):
        if (uid := _lookup(tables, wanted)) is not None:
            return uid
    return None


def _lookup(tables: Sequence[Path], wanted: tuple[tuple[str, str] | None, ...]) -> int | None:
    """One read of the tables: the uid in the row `wanted` names for each, or None."""
    read = False
    for table, key in zip(tables, wanted, strict=True):
        try:
            with table.open() as lines:
                read = True
                if key is None:
                    continue
                for line in lines:
                    fields = line.split()
                    if len(fields) > _UID and fields[1] == key[0] and fields[2] == key[1]:
                        return int(fields[_UID])
        except OSError:
            continue
    if not read:
        raise Unknowable(f"none of {', '.join(map(str, tables))} can be read")
    return None


def _rows(local: tuple[str, int], remote: tuple[str, int]) -> tuple[tuple[str, str] | None, ...]:
    """The (local, remote) columns the socket has in the IPv4 table and in the IPv6 one (None:
    not there). An IPv4 connection may be in either: an IPv6 socket holds it as ::ffff:a.b.c.d."""
    here, there = _address(local[0]), _address(remote[0])
    if isinstance(here, ipaddress.IPv4Address) and isinstance(there, ipaddress.IPv4Address):
        mapped = (ipaddress.IPv6Address(f"::ffff:{here}"), ipaddress.IPv6Address(f"::ffff:{there}"))
        return (
            (_column(here, local[1]), _column(there, remote[1])),
            (_column(mapped[0], local[1]), _column(mapped[1], remote[1])),
        )
    if isinstance(here, ipaddress.IPv6Address) and isinstance(there, ipaddress.IPv6Address):
        return None, (_column(here, local[1]), _column(there, remote[1]))
    return None, None


def _address(text: str) -> Address:
    """`text` as an address; an IPv4 address written as IPv6 (::ffff:127.0.0.1) as the IPv4 one."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _column(address: Address, port: int) -> str:
    """How the kernel writes an address and port: each 32-bit word of the address (network order)
    printed as the host reads it, in hex; the port in hex."""
    packed = address.packed
    words = (int.from_bytes(packed[at : at + 4], sys.byteorder) for at in range(0, len(packed), 4))
    return "".join(f"{word:08X}" for word in words) + f":{port:04X}"
