"""Where a task file sends the model's prompts and the user's key (and a Ray cluster the data), said first.

A task file may be a stranger's (a competition's, a colleague's), and its `[llm]` table names
both the host the prompts go to (the user's code and logs) and the environment variable whose
value goes with them as the key: `api_key_env = "AWS_SECRET_ACCESS_KEY"` with a `base_url` of
its own sent the user's cloud secret to that host, silently. So the run says, before any call,
which host gets which variable's value, and what crosses the network unencrypted; and a variable
that is a well-known credential of something else than a model endpoint is refused (`NOT_LLM_KEYS`,
checked where the task is read: `agent.task.LLMSpec`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from agent.llm.redaction import safe_url
from agent.loopback import loopback_host

if TYPE_CHECKING:
    from agent.task import LLMSpec, Task

NOT_LLM_KEYS = frozenset(
    {"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS",
     "AZURE_CLIENT_SECRET", "AZURE_STORAGE_KEY", "GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN",
     "CI_JOB_TOKEN", "NPM_TOKEN", "PYPI_TOKEN", "TWINE_PASSWORD", "DOCKER_PASSWORD", "DOCKER_AUTH_CONFIG",
     "SSH_AUTH_SOCK", "GPG_PASSPHRASE", "VAULT_TOKEN", "KUBECONFIG", "DATABASE_URL", "PGPASSWORD",
     "MYSQL_PWD", "SLACK_TOKEN", "SLACK_BOT_TOKEN", "STRIPE_SECRET_KEY", "SENTRY_DSN",
     "CLOUDFLARE_API_TOKEN", "DIGITALOCEAN_ACCESS_TOKEN", "HEROKU_API_KEY"}
)  # fmt: skip
"""Credentials of other services, never a model endpoint's key: a task file may not send them."""


def not_an_llm_key(name: str) -> str:
    """Why `api_key_env` may not name `name` ("" when it may)."""
    if name.upper() in NOT_LLM_KEYS:
        return (
            f"{name} holds a credential of another service, not a model endpoint's key: a task file may "
            "not send it to the endpoint it names; put the endpoint's key in a variable of its own"
        )
    return ""


def loopback(url: str) -> bool:
    """Whether `url`'s host is this machine (localhost, 127.0.0.0/8, ::1)."""
    return loopback_host(urlsplit(url).hostname or "")


def reach_note(spec: LLMSpec) -> str:
    """One line: the host the prompts and the key go to, and from which variable; what is unencrypted."""
    where = safe_url(spec.base_url)
    said = f"LLM: prompts (your code, logs) go to {spec.model} at {where}"
    said += f", with the value of ${spec.api_key_env} as the key (both named by the task file)"
    if not loopback(spec.base_url) and spec.base_url.lower().startswith("http://"):
        said += "; over plain http: the key and the prompts cross the network unencrypted"
    return said


def reach_notes(task: Task, address_given: bool = False) -> list[str]:
    """What leaves this machine by the task file's say: the model's endpoint (when the run's
    proposer is the model: `[proposer] kind` llm, or auto with [llm]), and a Ray cluster the task
    file names (`[search] address`; not when `--address` named one), which receives the scorer,
    the public data and the validation answers with every evaluation."""
    notes = []
    llm = task.spec.llm
    if llm is not None and task.spec.proposer.kind != "evolve":
        notes.append(reach_note(llm))
    search = task.spec.search
    named = search.address or ""
    if (
        search.executor == "ray"
        and named
        and named != "auto"
        and not address_given
        and not _loopback_host(named)
    ):
        notes.append(
            f"Ray: evaluations (the scorer, the public data, the validation answers) go to the cluster "
            f"at {named} (named by the task file)"
        )
    return notes


def _loopback_host(address: str) -> bool:
    """Whether a Ray `HOST:PORT` is this machine."""
    return loopback(f"http://{address}")
