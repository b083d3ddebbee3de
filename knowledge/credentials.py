"""Credentials in text: private keys, cloud and API tokens, and `KEY=secret` lines.

What the knowledge store ingests is quoted into LLM prompts, which leave the machine, so a
file that holds a credential is not ingested (`ingest_plan`), and text the LLM will read can
be redacted with what `find_credentials` returns.

The detection is detect-secrets' (Yelp), with a curated set of its plugins: those that
recognise a credential by its format (AWS, GitHub, GitLab, OpenAI, Slack, Stripe, … keys, JWTs,
private key blocks, `user:password@` in URLs) and its keyword detector (`password = "…"`,
`OPENAI_API_KEY=…`), whose hits pass detect-secrets' own false-positive filters. Left out:
the high-entropy plugins (every hash, UUID and base64 blob in ordinary code would count), the
public-IP one (an address is no secret) and Artifactory's (any word of 11 letters and digits
opening with `AP` and a hex digit). Plugins are called directly, never through detect-secrets'
process-wide settings, so scans on several threads cannot disturb one another, and nothing is
ever verified over the network.

Some common tokens no plugin of detect-secrets knows, and none sits after a keyword it looks for
(`login("hf_…")`, `OpenAI("sk-proj-…")`): Hugging Face, Anthropic and Google API keys, OpenAI's
project and plain `sk-…` keys (its plugin knows only the older `…T3BlbkFJ…` shape), an
`Authorization: Bearer …` token and a Google service account's key id. `_TOKEN_FORMATS` names a
pattern for each, searched in the whole text, and GitHub's fine-grained `github_pat_…` tokens,
which its plugin lacks. A token with a prefix of its own (`hf_`, `sk-…`, `AIza`, `github_pat_`)
may be of letters alone, unless it reads as a name in words or has one case; a bearer token or
key id must mix letters and digits; none may be a placeholder (`sk-proj-xxxx…`, `Bearer
YOUR_TOKEN`), so names and prose do not count.

The files that keep a machine's logins have formats of their own, with no keyword before the
secret and often no digit in it: `_LOGIN_FORMATS` finds a `.pgpass` line's password
(`host:port:db:user:password`), a docker config's `"auth"` (base64 of `user:password`), a
`.netrc`'s `password`, a kubeconfig's `client-key-data` (its `token:` the keyword scan finds), a
password on a command line in a shell history (`mysql -p…`, `sshpass -p…`, `--password=…`,
`PGPASSWORD=…`) and a password hash of `/etc/shadow` (`user:$6$…:`). A task file once named
these files as knowledge sources (`agent.secret_places` now refuses that), and the store quoted
them to the endpoint; a copy of one in a project folder is skipped the same way. Their context
says the value is a secret, so a password of letters alone counts, a placeholder does not.

A scan looks at the lines that can hold a hit, found with one search of the whole text per
pattern (a private key block, a token's format, a keyword such as `key`, `pass` or `token`),
not at every line with every plugin: most files hold none, and a 2 MB file takes a fraction
of a second instead of seconds.
"""

from __future__ import annotations

import base64
import re
from bisect import bisect_right
from collections.abc import Iterator
from functools import cache
from itertools import accumulate

from detect_secrets.filters import heuristic
from detect_secrets.plugins import keyword
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.cloudant import CloudantDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.ibm_cloud_iam import IbmCloudIamDetector
from detect_secrets.plugins.ibm_cos_hmac import IbmCosHmacDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.softlayer import SoftlayerDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

__all__ = ["find_credentials"]

# Plugins that recognise a token by its format: run on the lines where one of their patterns occurs.
_FORMATS: tuple[BasePlugin, ...] = (
    AWSKeyDetector(),
    AzureStorageKeyDetector(),
    BasicAuthDetector(),
    DiscordBotTokenDetector(),
    GitHubTokenDetector(),
    GitLabTokenDetector(),
    JwtTokenDetector(),
    MailchimpDetector(),
    NpmDetector(),
    OpenAIDetector(),
    PrivateKeyDetector(),
    PypiTokenDetector(),
    SendGridDetector(),
    SlackDetector(),
    SquareOAuthDetector(),
    StripeDetector(),
    TelegramBotTokenDetector(),
    TwilioKeyDetector(),
)
# Plugins that find a secret after a keyword (`cloudant_password = …`); their patterns, searched
# in a whole text, cost a second per few MB, so they run on `_HINT`'s lines only.
_AFTER_KEYWORDS: tuple[BasePlugin, ...] = (
    CloudantDetector(),
    IbmCloudIamDetector(),
    IbmCosHmacDetector(),
    SoftlayerDetector(),
)
_KEYWORDS = keyword.KeywordDetector()
# Words on every line a keyword plugin, `_AFTER_KEYWORDS` or `_TOKEN_SETTING` can fire on.
_HINT = re.compile(r"key|pw|pass|secret|token|contras|cloudant|softlayer", re.IGNORECASE)
# A configuration line, `NAME=value` or `NAME: value` (.env, shell, YAML, INI, TOML): its value
# needs no quotes. detect-secrets' keyword list has no `token`, which `HF_TOKEN=…` needs.
_SETTING = re.compile(r"^\s*(?:export\s+)?[\w.-]+\s*[:=]")
_TOKEN_SETTING = re.compile(
    r"^\s*(?:export\s+)?[\w.-]*token\s*[:=]\s*(['\"]?)([^\s'\",;]+)\1\s*$", re.IGNORECASE
)
# A private key block: the value to redact is the block, not its first line.
_KEY_BLOCK = re.compile(
    r"-----BEGIN[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
# A value shaped like a credential when written without quotes: long enough, letters and
# digits, no snake_case name (`password: str`, `token: null`, `pad_token=mask2_token` are none).
_UNQUOTED = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)(?![a-z][a-z0-9]*(?:_[a-z0-9]+)+$).{8,}$")
# What a keyword's value is when it names or describes the credential instead of being it: an
# environment variable's name (`api_key_env = "OPENAI_API_KEY"`), prose, or file text.
_NOT_A_VALUE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$|\s|\\[nrt]")
# Token formats detect-secrets' plugins lack (see the module's docstring): name -> pattern; the
# secret is the pattern's group if it has one, else the whole match. `_TOKEN_END`: a token ends
# where its characters do (`\b` fails after a closing `-`).
_TOKEN_END = r"(?![A-Za-z0-9_-])"
_TOKEN_FORMATS: dict[str, re.Pattern[str]] = {
    "GitHub fine-grained token": re.compile(r"\bgithub_pat_(?P<body>[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b"),
    "Hugging Face token": re.compile(r"\bhf_(?P<body>[A-Za-z0-9]{34,})\b"),
    "Anthropic API key": re.compile(r"\bsk-ant-(?:api|admin)\d\d-(?P<body>[A-Za-z0-9_-]{20,})" + _TOKEN_END),
    "OpenAI project, service or admin key": re.compile(
        r"\bsk-(?:proj|svcacct|admin)-(?P<body>[A-Za-z0-9_-]{20,})" + _TOKEN_END
    ),
    "OpenAI key": re.compile(r"\bsk-(?P<body>[A-Za-z0-9]{32,})\b"),
    "Google API key": re.compile(r"\bAIza(?P<body>[0-9A-Za-z_-]{30,})" + _TOKEN_END),
    "Google OAuth client secret": re.compile(r"\bGOCSPX-(?P<body>[A-Za-z0-9_-]{28})" + _TOKEN_END),
    "bearer token": re.compile(r"\b(?i:bearer)\s+([A-Za-z0-9._~+/-]{20,}=*)"),
    "Google service account key id": re.compile(r'"private_key_id"\s*:\s*"([0-9a-f]{40})"'),
}
# Formats of login files and shell histories (see the module's docstring): name -> pattern whose
# group 1 is the secret. Each is anchored on its context, so the whole text is searched at once;
# what may lie between a command and its `-p` is bounded, so a line of many `mysql` stays linear.
_LOGIN_FORMATS: dict[str, re.Pattern[str]] = {
    "pgpass line": re.compile(r"^[^\s:#][^\s:]*:(?:\d+|\*):[^\s:]+:[^\s:]+:((?:[^\s:\\]|\\.)+)[ \t]*$", re.M),
    "docker config auth": re.compile(r'"(?:auth|identitytoken)"\s*:\s*"([A-Za-z0-9+/]{8,}={0,2})"'),
    "netrc password": re.compile(
        r"^[ \t]*(?:machine[ \t]+\S+|default)(?:[ \t]+(?:login|account|port)[ \t]+\S+)+[ \t]+password[ \t]+(\S+)"
        r"|^[ \t]*(?:machine|default|login|account)\b[^\n]*\n[ \t]*password[ \t]+(\S+)[ \t]*$",
        re.M,
    ),
    "kubeconfig client key": re.compile(r"\bclient-key-data:\s*([A-Za-z0-9+/]{16,}={0,2})"),
    "password on a command line": re.compile(
        r"\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump|sshpass)\b[^\n]{0,300}?\s-p([^\s'\"]\S*)"
        r"|\s--password[= ](['\"]?)(?P<long>[^\s'\"-][^\s'\"]*)\2"
        r"|\b(?:PGPASSWORD|MYSQL_PWD|SSHPASS)=(['\"]?)(?P<env>[^\s'\"]+)\4"
    ),
    "password hash": re.compile(r"^[^\s:#][^\s:]*:(\$(?:[0-9a-z]{1,6})\$[^\s:]{8,}):", re.M),
}
_MIXED = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)")
# A name written in words (`HubDownloadWithRetries`, `loadHFModel`, `my-project-name`): each
# piece between `_` or `-` a run of words, capitalised or not, of two letters or more, or an
# acronym. A random token of letters alone (one in some 400 has no digit) reads so one time in 100.
_WORDS = re.compile(r"(?:[A-Z]?[a-z]{2,}(?![a-z])|[A-Z]+(?=[A-Z][a-z]|[_-]|$)|[_-])+")
_PLACEHOLDER = re.compile(
    r"x{4,}|\*{3,}|\.{3}|your[_-]|changeme|placeholder|example|redacted"
    r"|^(?:password|passwd|pass|pwd|pw|secret|token|test|foo|bar)$",
    re.IGNORECASE,
)


def find_credentials(text: str) -> list[str]:
    """The credentials in `text`, each once, in the order found: the values to redact (a private
    key's whole block; for `OPENAI_API_KEY=sk-…`, the `sk-…`). Empty when it holds none."""
    lines = text.split("\n")
    starts = list(accumulate((len(line) + 1 for line in lines[:-1]), initial=0))
    found = dict.fromkeys(match.group(0) for match in _KEY_BLOCK.finditer(text))
    for number, chosen in sorted(_candidates(text, starts).items()):
        line = lines[number].rstrip()
        for index in sorted(chosen - {_KEYWORD}):
            values = _format_values(_PLUGINS[index], line)
            found.update(dict.fromkeys(v for v in values if not _placeholder(v)))
        if _KEYWORD in chosen:
            found.update(dict.fromkeys(_keyword_values(line)))
    found.update(dict.fromkeys(_token_values(text)))
    found.update(dict.fromkeys(_login_values(text)))
    values = [value for value in found if value]
    return [v for v in values if not any(v != other and v in other for other in values)]


_PLUGINS = (*_FORMATS, *_AFTER_KEYWORDS)
_KEYWORD = -1  # in `_candidates`' sets: the keyword detector (`_keyword_values`)


def _candidates(text: str, starts: list[int]) -> dict[int, set[int]]:
    """The lines (by number) that can hold a hit, each with the plugins to run on it (indices in
    `_PLUGINS`, or `_KEYWORD`). A line's match is found by the same pattern searched in the whole
    text, or lies inside a match that runs over several lines (`_anywhere`): no line is missed."""
    chosen: dict[int, set[int]] = {}

    def choose(start: int, end: int, plugins: set[int]) -> None:
        for number in range(bisect_right(starts, start) - 1, bisect_right(starts, max(start, end - 1))):
            chosen.setdefault(number, set()).update(plugins)

    for index, plugin in enumerate(_FORMATS):
        for pattern in plugin.denylist:  # type: ignore[attr-defined]
            for match in _anywhere(pattern).finditer(text):
                choose(match.start(), match.end(), {index})
    after_keywords = {*range(len(_FORMATS), len(_PLUGINS)), _KEYWORD}
    for match in _HINT.finditer(text):
        choose(match.start(), match.end(), after_keywords)
    return chosen


@cache
def _anywhere(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """`pattern` with `^` and `$` at every line's ends, to be searched in a whole text."""
    return re.compile(pattern.pattern, pattern.flags | re.MULTILINE)


def _format_values(plugin: BasePlugin, line: str) -> Iterator[str]:
    """The secrets a plugin finds in `line`. detect-secrets reports a pattern's first group: in
    some patterns it is the secret after its context (`aws_secret = "…"`, `user:…@`), in others
    a piece of the token (`(ghp|gho)_…` reports `ghp`). The secret is the group when it closes
    the match (but a closing quote or `@`), else the whole match."""
    if type(plugin).analyze_string is not RegexBasedDetector.analyze_string:
        yield from plugin.analyze_string(line)  # a check of its own (a JWT must decode)
        return
    for pattern in plugin.denylist:  # type: ignore[attr-defined]
        for match in pattern.finditer(line):
            group = match.group(1) if pattern.groups else None
            closes = group is not None and match.end() - match.end(1) <= 1
            yield group if closes and group else match.group(0)


def _token_values(text: str) -> Iterator[str]:
    """The tokens `_TOKEN_FORMATS` finds in `text`: each a pattern with a prefix of its own, so
    searching the whole text costs little; a placeholder is none. After a prefix of its own
    (`hf_`, `sk-proj-`, `github_pat_`: a `body` group) the format is specific enough that a token of
    letters alone counts (a Hugging Face token may hold no digit), unless it reads as a name in words
    (`hf_HubDownloadWithRetries…`) or has a single case; a bearer token or a key id must mix letters
    and digits, or a name in prose would count."""
    for pattern in _TOKEN_FORMATS.values():
        for match in pattern.finditer(text):
            value = match.group(1) if pattern.groups and "body" not in pattern.groupindex else match.group(0)
            if "body" in pattern.groupindex:
                shaped = _random_letters(match.group("body"))
            else:
                shaped = bool(_MIXED.match(value))
            if shaped and not _placeholder(value) and not _NOT_A_VALUE.search(value):
                yield value


def _random_letters(body: str) -> bool:
    """Whether a prefixed token's `body` looks random: a digit in it, or letters of both cases
    that do not read as words (`_WORDS`)."""
    if any(c.isdigit() for c in body):
        return True
    letters = [c for c in body if c.isalpha()]
    if not any(c.isupper() for c in letters) or not any(c.islower() for c in letters):
        return False
    return not _WORDS.fullmatch(body)


def _login_values(text: str) -> Iterator[str]:
    """The secrets `_LOGIN_FORMATS` finds in `text`: the group that matched; a placeholder is
    none (`*`, `<password>`, `$PASSWORD`; a hash opens with `$` and is no template), nor is a
    docker `"auth"` that is no base64 of `user:password`."""
    for name, pattern in _LOGIN_FORMATS.items():
        for match in pattern.finditer(text):
            value = next((g for g in match.groups() if g and g not in "'\""), None)
            if value is None or (name != "password hash" and _placeholder(value)):
                continue
            if name == "docker config auth" and not _is_user_password(value):
                continue
            yield value


def _is_user_password(value: str) -> bool:
    """Whether base64 `value` decodes to `user:password` (a docker login's `auth`)."""
    try:
        return b":" in base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except ValueError:
        return False


def _keyword_values(line: str) -> Iterator[str]:
    """A keyword's quoted value (`password = "…"`) and, on a configuration line, an unquoted one
    shaped like a credential (`OPENAI_API_KEY=sk-…`, `HF_TOKEN=hf_…`)."""
    yield from (v for v in _KEYWORDS.analyze_string(line) if not _dismissed(v, line))
    if _SETTING.match(line):
        unquoted = _KEYWORDS.analyze_string(line, keyword.CONFIG_DENYLIST_REGEX_TO_GROUP)
        token = _TOKEN_SETTING.match(line)
        values = [*unquoted, *([token.group(2)] if token else [])]
        yield from (v for v in values if _UNQUOTED.match(v) and not _dismissed(v, line))


def _dismissed(value: str, line: str) -> bool:
    """detect-secrets' filters for keyword hits (`get_secret()`, an id, a sequence, a UUID),
    `_NOT_A_VALUE` and `_placeholder`."""
    return (
        _placeholder(value)
        or bool(_NOT_A_VALUE.search(value))
        or heuristic.is_indirect_reference(line)
        or heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_likely_id_string(value, line)
    )


def _placeholder(value: str) -> bool:
    """A value that stands for a credential in documentation: a template (`<key>`, `${KEY}`,
    `$KEY`), no letter (`*****`), or words such as `your-key-here`, `xxxx`, `password`."""
    return (
        heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_not_alphanumeric_string(value)
        or bool(_PLACEHOLDER.search(value))
    )
