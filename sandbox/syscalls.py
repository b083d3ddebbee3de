"""The system calls a bwrap sandbox refuses, as a seccomp program bwrap loads before the command.

Why a filter, when namespaces and rlimits already hold the sandbox: two holes were measured
that neither closes.

- User namespaces. As root, bwrap runs privileged (no user namespace of its own, so
  `--disable-userns` cannot apply) and the command runs as an unprivileged uid, which the
  kernel lets make a user namespace: `unshare -Urm` then gave a candidate its own mount
  namespace, where it mounted a tmpfs of its own and wrote 600,000 files past the 250,000
  cap (the watch counts /tmp and /dev/shm, not a mount it cannot see). `clone`/`unshare` with
  CLONE_NEWUSER fail with EPERM here; `clone3`, whose flags sit in a struct that seccomp
  cannot read, fails with ENOSYS, so libc falls back to `clone` (as Docker's and Flatpak's
  filters do).
- `fallocate`. It reserves a file's blocks at once: 30 processes each reserved 1 GiB in
  0.18 s, 31 GB of the host's disk, before the disk watch (a few times a second) saw any of
  it. It fails with EOPNOTSUPP here, as on a file system without it; glibc's
  `posix_fallocate` then writes the blocks one by one, at the speed of writing, which the
  watch keeps up with.

Also refused, as Docker's default profile refuses them: the kernel keyring (`keyctl`,
`add_key`, `request_key`: not namespaced), `bpf`, `userfaultfd`, `perf_event_open` and
io_uring (a way around the filter for file I/O, and a frequent kernel attack surface).

bwrap loads the program itself (`--seccomp FD`). A docker container keeps Docker's own
filter (an allow-list) and gets this one on top, loaded by `LOADER` before the command
is executed: seccomp filters stack, and a call passes only if every filter lets it.

The program is compiled by libseccomp (through pyseccomp's ctypes binding), not written by
hand: BPF for several architectures, with the architecture check that a hand-written
filter would have to get right, is what that library is for. Calls of another ABI than the
native one (a 32-bit binary's `int 0x80`) kill the process: their numbers differ, so the
rules above would not match them.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile
from collections.abc import Sequence

CLONE_NEWUSER = 0x10000000

REFUSED: dict[str, int] = {
    "keyctl": errno.EPERM,
    "add_key": errno.EPERM,
    "request_key": errno.EPERM,
    "bpf": errno.EPERM,
    "userfaultfd": errno.EPERM,
    "perf_event_open": errno.EPERM,
    "io_uring_setup": errno.ENOSYS,
    "io_uring_enter": errno.ENOSYS,
    "io_uring_register": errno.ENOSYS,
    "clone3": errno.ENOSYS,
    "fallocate": errno.EOPNOTSUPP,
}
"""Calls refused whatever their arguments, and the errno each returns."""


LOADER = """\
import ctypes, os, sys
program = ctypes.create_string_buffer(bytes.fromhex(sys.argv[1]))
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fprog = Fprog(len(program.raw) // 8, ctypes.addressof(program))
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.byref(fprog), 0, 0):
    sys.exit("strop sandbox: the syscall filter cannot be loaded: " + os.strerror(ctypes.get_errno()))
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as error:
    print(f"{sys.argv[2]}: {error.strerror}", file=sys.stderr)
    sys.exit(127 if isinstance(error, FileNotFoundError) else 126)
"""
"""Python run as `python -I -S -c LOADER HEX COMMAND…`: PR_SET_NO_NEW_PRIVS (38), then
PR_SET_SECCOMP (22) in SECCOMP_MODE_FILTER (2) with the program given in hex (its length
in 8-byte BPF instructions), then exec. Standard library only, no site: it runs in a
container with nothing but the host's interpreter bound in, in a few milliseconds."""


class FilterUnavailable(RuntimeError):
    """libseccomp is missing or cannot build the program on this machine."""


@functools.cache
def program() -> bytes:
    """The compiled filter (classic BPF, as `seccomp_export_bpf` writes it); built once."""
    try:
        import pyseccomp as seccomp

        rules = seccomp.SyscallFilter(seccomp.ALLOW)
        for name, code in REFUSED.items():
            rules.add_rule(seccomp.ERRNO(code), name)
        newuser = seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)
        for name in ("unshare", "clone"):
            rules.add_rule(seccomp.ERRNO(errno.EPERM), name, newuser)
        with tempfile.TemporaryFile() as out:
            rules.export_bpf(out)
            out.seek(0)
            return out.read()
    except (ImportError, OSError, RuntimeError, ValueError) as error:
        raise FilterUnavailable(
            f"the syscall filter cannot be built here ({error}); install libseccomp2"
        ) from error


def confined(command: Sequence[str], python: str) -> list[str]:
    """`command` run under the filter by `LOADER`, for a sandbox that cannot load one itself."""
    return [python, "-I", "-S", "-c", LOADER, program().hex(), *command]


def program_fd() -> int:
    """A readable descriptor holding `program()`, for bwrap's `--seccomp FD`; the caller closes it.

    A pipe: the program is a few hundred bytes, far below a pipe's buffer, so writing it
    all before bwrap reads cannot block.
    """
    read, write = os.pipe()
    try:
        os.write(write, program())
    finally:
        os.close(write)
    return read


def filter_note(loaded: bool, error: FilterUnavailable | None = None) -> str:
    """What a run's notes say of the filter: what it refuses, or that there is none here and why."""
    if loaded:
        return "syscalls: new user namespaces, fallocate, keyring, bpf, io_uring refused"
    return f"syscalls: no filter ({error}): new user namespaces (bwrap as root) and fallocate are open"
