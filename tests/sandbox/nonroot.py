"""Run a command as a real non-root user, optionally where user namespaces are refused.

Run as root: `python nonroot.py USER MODE -- CMD...`. It makes a private mount namespace in
which strop's interpreter is reachable by anyone (here it lies under /root, mode 0700: a
normal user has an interpreter of their own), then, by MODE:

- `plain`: nothing more;
- `off`: a user namespace (identity-mapped) whose `user.max_user_namespaces` is 0, as on a
  host where an administrator turned them off;
- `nested`: two, the outer allowing only the inner: the sysctl read inside says they are on,
  yet making one fails, as in a container whose host limits them;

and runs CMD as USER (uid, gid and groups from /etc/passwd and /etc/group) with a clean
environment: HOME, PATH and what STROP_* variables the caller set.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
IDS = 65536
"""uids and gids mapped (identity) into the emulated user namespaces."""

_libc = ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare failed")


def expose_interpreter() -> None:
    """In a private mount namespace: open the first closed folder above the interpreter's prefix.

    Only the path to the prefix is opened (a tmpfs over the closed folder, the prefix's
    branch bound back into it); the rest of that folder is hidden, not exposed.
    """
    _unshare(CLONE_NEWNS)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    prefix = Path(sys.base_prefix).resolve()
    for closed in reversed(prefix.parents):
        if closed != Path("/") and not closed.stat().st_mode & 0o001:
            branch = closed / prefix.relative_to(closed).parts[0]
            held = tempfile.mkdtemp(prefix="strop-nonroot-")
            subprocess.run(["mount", "--bind", str(branch), held], check=True)
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "nonroot", str(closed)], check=True
            )
            branch.mkdir()
            subprocess.run(["mount", "--move", held, str(branch)], check=True)
            os.rmdir(held)
            return


def enter_user_namespace(limit: int) -> None:
    """Continue in a new, identity-mapped user namespace whose `max_user_namespaces` is `limit`.

    Forks: the parent, still outside, writes the child's id maps, waits, and exits with its status.
    """
    ready_read, ready_write = os.pipe()
    mapped_read, mapped_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        _unshare(CLONE_NEWUSER)
        os.write(ready_write, b"x")
        os.read(mapped_read, 1)
        Path("/proc/sys/user/max_user_namespaces").write_text(str(limit))
        return
    os.read(ready_read, 1)
    Path(f"/proc/{pid}/uid_map").write_text(f"0 0 {IDS}\n")
    Path(f"/proc/{pid}/setgroups").write_text("allow")
    Path(f"/proc/{pid}/gid_map").write_text(f"0 0 {IDS}\n")
    os.write(mapped_write, b"x")
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status))


def main(user: str, mode: str, command: list[str]) -> None:
    expose_interpreter()
    if mode == "off":
        enter_user_namespace(0)
    elif mode == "nested":
        enter_user_namespace(1)  # the inner namespace is this one's only one
        enter_user_namespace(2**31 - 1)
    elif mode != "plain":
        raise SystemExit(f"unknown mode {mode!r} (plain, off, nested)")
    kept = {name: value for name, value in os.environ.items() if name.startswith(("STROP_", "DOCKER_"))}
    env = {"HOME": kept.get("STROP_HOME", "/"), "PATH": "/usr/local/bin:/usr/bin:/bin", "USER": user, **kept}
    entry = pwd.getpwnam(user)
    setpriv = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", "--"]
    os.execvpe("setpriv", [*setpriv, *command], env)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], args[args.index("--") + 1 :])
