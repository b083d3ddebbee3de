"""Even CPU shares for a side-by-side on one machine, and the CPU-seconds each side used.

docker puts every container under one cpu cgroup (`docker`, 1024 shares on cgroup v1). A
process started beside them in the root group competes with that whole group as a single
entity, at its own nice weight: in one measured minute of `benchmarks.mle_suite --together`
(commit cda0209, both sides at nice -20), FLAML's process tree used 93 of the 120
CPU-seconds and strop's sandboxed candidates 18. Here the peer gets a group of docker's
weight (so the peer and the candidates split the cores evenly when both want them), and
each side's use is read from `cpuacct`: the peer's group, and for strop its own process
tree's group (driver and scorers) plus docker's (its candidates; nothing else may use
docker meanwhile).

Written by hand: the Python cgroup packages manage systemd units or cgroup v2, not these
few v1 files. Where the v1 `cpu` and `cpuacct` hierarchies are not mounted and writable,
`Side.open` returns None and the suite says that the split was not controlled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CPU = Path("/sys/fs/cgroup/cpu")
CPUACCT = Path("/sys/fs/cgroup/cpuacct")
DOCKER_SHARES = 1024


@dataclass(frozen=True)
class Side:
    """One side's cgroups: `cpu` (its weight, None to leave it where it is) and `cpuacct`."""

    cpu: Path | None
    accounting: list[Path]

    @classmethod
    def open(cls, name: str, weighted: bool, with_docker: bool = False) -> Side | None:
        """Groups called `name` (made anew); `weighted`: give it docker's CPU shares."""
        try:
            cpu = None
            if weighted:
                cpu = _group(CPU / name)
                shares = CPU / "docker" / "cpu.shares"
                value = shares.read_text().strip() if shares.is_file() else str(DOCKER_SHARES)
                (cpu / "cpu.shares").write_text(value)
            accounting = [_group(CPUACCT / name)]
            if with_docker:
                accounting.append(CPUACCT / "docker")
        except OSError:
            return None
        return cls(cpu, accounting)

    def join(self, pid: int) -> None:
        """Move process `pid` (its threads, and children it starts later) into the side's groups."""
        for group in [self.cpu, self.accounting[0]]:
            if group is not None:
                (group / "cgroup.procs").write_text(str(pid))

    def cpu_seconds(self) -> float:
        """CPU-seconds used so far in the side's accounting groups (docker's: since dockerd began)."""
        total = 0
        for group in self.accounting:
            usage = group / "cpuacct.usage"
            total += int(usage.read_text()) if usage.is_file() else 0
        return total / 1e9


def _group(path: Path) -> Path:
    if not path.parent.is_dir():
        raise OSError(f"{path.parent}: no cgroup v1 hierarchy here")
    path.mkdir(exist_ok=True)
    return path
