"""Secret places: where a machine keeps its credentials, which no task file may name.

A task file is a stranger's: downloaded, cloned with a repository, sent by a colleague. Every
path it names is read by strop and reaches someone other than the user: the workspace and
`public` are shown to candidates (and the workspace to the LLM), the scorer's and private data's
error lines are quoted back into prompts, mounts are shown to candidates and `[knowledge]
sources` are quoted into the LLM's prompts, which leave the machine. So `public = "~/.ssh"`
printed the user's ssh key into a prompt, and `sources = ["~/.pgpass", "~/.docker"]` quoted the
database password and the registry login to the endpoint.

A task path that is, holds or lies inside one of `SECRET_PLACES` is refused when the task is
loaded (`agent.task`), in one line. The user's home and `/` as a whole count as holding them.
The list names the usual homes of keys, tokens and passwords: it narrows what a hostile task file
can reach, it cannot know every file a user keeps a secret in (that is `knowledge.credentials`'
part: it skips ingested files whose text holds one).
"""

from __future__ import annotations

import os
import pwd
from contextlib import suppress
from pathlib import Path

__all__ = ["SECRET_PLACES", "secret_exposure"]

# In every home (`$HOME` and the account's own, when they differ): what keeps keys, tokens,
# passwords or the commands that typed them.
SECRET_PLACES: tuple[str, ...] = (
    "~/.ssh",  # private keys
    "~/.gnupg",
    "~/.aws",  # cloud credentials
    "~/.azure",
    "~/.config/gcloud",
    "~/.kube",  # cluster client keys and tokens
    "~/.docker",  # registry logins ("auth": base64 of user:password)
    "~/.netrc",
    "~/.pgpass",
    "~/.git-credentials",
    "~/.config/gh",  # GitHub CLI's token
    "~/.pypirc",
    "~/.npmrc",
    "~/.cargo/credentials",
    "~/.cargo/credentials.toml",
    "~/.vault-token",
    "~/.password-store",
    "~/.local/share/keyrings",
    "~/.bash_history",  # a password typed on a command line (`mysql -p…`)
    "~/.zsh_history",
    "~/.mysql_history",
    "~/.psql_history",
    "~/.python_history",
    "/etc/shadow",  # password hashes
    "/etc/gshadow",
    "/etc/ssh",  # host keys
    "/root",  # root's home, when it is not the user's own
)


def _homes() -> list[Path]:
    """`$HOME` (what `~` in a task file expands to) and the account's home, when they differ."""
    homes = [Path(os.environ["HOME"])] if os.environ.get("HOME") else []
    with suppress(KeyError):  # a uid with no passwd entry (a container's)
        homes.append(Path(pwd.getpwuid(os.getuid()).pw_dir))
    return list(dict.fromkeys(home.resolve() for home in homes))


def _places(homes: list[Path]) -> list[Path]:
    """Every secret place, as written and resolved (`~/.ssh` may link elsewhere), each once."""
    places: list[Path] = []
    for place in SECRET_PLACES:
        if place.startswith("~/"):
            places += [home / place[2:] for home in homes]
        elif Path(place) not in homes:
            places.append(Path(place))
    return list(dict.fromkeys([*places, *(place.resolve() for place in places)]))


def secret_exposure(path: Path) -> str | None:
    """Why the resolved `path` would show credentials (None: it shows none), to follow the path in
    a one-line error: it is your home or holds a secret place (then it says to name what is needed
    inside it), or it is or lies inside one."""
    homes = _homes()
    if path in homes:
        return f"is your home folder, which holds your credentials (~/.ssh, ~/.aws, …): {_FIX}"
    for place in _places(homes):
        if place == path:  # the error names the path already
            return f"is {_WHY}"
        if place in path.parents:
            return f"lies inside {place}, {_WHY}"
        if path in place.parents:
            return f"holds {place}, {_WHY}: {_FIX}"
    return None


_WHY = "where this machine keeps credentials (what a task file names reaches candidates or the LLM)"
_FIX = "name the folder you need inside it"
