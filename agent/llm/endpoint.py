"""What an endpoint can do, asked once per run: structured (JSON schema) answers, its context window.

Endpoints differ in ways the OpenAI protocol does not announce. Before the first real
question, the proposer probes:

- **structured output.** One tiny request per dialect, each with a schema whose only
  valid answer is `{"probe": "strop-probe-7"}` — a value the prompt does not mention, so
  only an endpoint that really constrains its output can produce it:
  - `json_schema`: OpenAI's `{"type": "json_schema", "json_schema": {...}}` (OpenAI,
    vLLM guided decoding, Ollama's OpenAI API, llama.cpp's `llama-server`);
  - `json_object`: `{"type": "json_object", "schema": {...}}` (llama-cpp-python's server,
    which turns the schema into a grammar).
  A dialect that is refused (HTTP 4xx), ignored (the reply is not that JSON) or fails is
  not used; when neither works, answers are plain text (SEARCH/REPLACE blocks). An endpoint
  that does not answer at all (connection refused, DNS, TLS, no connection) refused nothing:
  the probe says it was unreachable and `reached` is False, so the proposer asks again later
  instead of keeping "plain text" for the rest of the run.
- **the context window**, where `GET /models` reports it (`max_model_len` from vLLM,
  `context_length`, `context_window`, `n_ctx` or `meta.n_ctx_train` elsewhere). Most
  local servers do not; then `[llm] context` is used, or the window is learned from the
  first overflow error.

The probe's calls are counted like any other (`cost`), and its findings are one line of
the first experiment's decisions. A configuration error (401, 404) is not swallowed: it
stops the run as it would on the first real call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.deadline import Deadline
from agent.llm.client import ChatMessage, LLMClient
from agent.llm.errors import LLMConfigError, LLMError, LLMUnavailable
from agent.records import Cost

Dialect = Literal["json_schema", "json_object"]
DIALECTS: tuple[Dialect, ...] = ("json_schema", "json_object")
PROBE_VALUE = "strop-probe-7"
PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"probe": {"type": "string", "enum": [PROBE_VALUE]}},
    "required": ["probe"],
    "additionalProperties": False,
}
PROBE_MESSAGES = (
    ChatMessage("system", "You answer with one JSON object and nothing else."),
    ChatMessage("user", 'Reply with a JSON object with one key, "probe".'),
)
_CONTEXT_KEYS = ("max_model_len", "context_length", "context_window", "n_ctx", "max_context_length")


@dataclass(frozen=True)
class Capabilities:
    """What the probe found: the structured-output dialect (None: plain text) and the context window."""

    dialect: Dialect | None = None
    context: int | None = None  # tokens, as the endpoint reported it (None: not reported)
    notes: tuple[str, ...] = ()
    cost: Cost = field(default_factory=Cost)
    reached: bool = True  # False: the endpoint did not answer; this says nothing of it, ask again later

    @property
    def structured(self) -> bool:
        return self.dialect is not None

    def line(self) -> str:
        """One line for the record: what the endpoint accepts and why."""
        if not self.reached:
            return f"endpoint probe: {'; '.join(self.notes)}; plain-text answers for now, probed again later"
        answers = f"structured answers ({self.dialect})" if self.dialect else "plain-text answers"
        window = f"context {self.context} tokens (reported)" if self.context else "context not reported"
        return f"endpoint probe: {answers}; {window}" + (f"; {'; '.join(self.notes)}" if self.notes else "")


def response_format(dialect: Dialect, name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The `response_format` value asking for `schema` in `dialect`."""
    if dialect == "json_schema":
        # not `strict`: OpenAI's strict mode refuses optional properties and bounds, which these schemas use
        return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(schema)}}
    return {"type": "json_object", "schema": dict(schema)}


def reported_context(entries: list[Mapping[str, Any]], model: str) -> int | None:
    """The context window `GET /models` reports for `model` (or its only model), if any."""
    chosen = [e for e in entries if e.get("id") == model] or (entries if len(entries) == 1 else [])
    for entry in chosen:
        for source in (entry, entry.get("meta") or {}, entry.get("details") or {}):
            if not isinstance(source, Mapping):
                continue
            for key in (*_CONTEXT_KEYS, "n_ctx_train"):
                value = source.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value >= 256:
                    return value
    return None


def probe(
    client: LLMClient, deadline: Deadline | None = None, dialects: tuple[Dialect, ...] = DIALECTS
) -> Capabilities:
    """Ask the endpoint what it can do (see the module's docstring); never raises but for config errors."""
    notes: list[str] = []
    cost = Cost()
    context = None
    try:
        context = reported_context(client.models(), client.spec.model)
    except LLMConfigError:
        raise
    except LLMError as error:
        notes.append(f"GET /models failed ({error.kind})")
    found: Dialect | None = None
    for dialect in dialects:
        try:
            reply = client.complete(
                PROBE_MESSAGES,
                deadline=deadline,
                response_format=response_format(dialect, "probe", PROBE_SCHEMA),
                max_tokens=32,
                retries=0,  # a refusal is the answer; a failure is not worth the backoff
            )
        except LLMConfigError:
            raise
        except LLMError as error:
            cost = cost + (error.cost or Cost())
            down = client.unreachable() if isinstance(error, LLMUnavailable) else None
            if down is not None:  # not a refusal: nothing answered, so no other dialect is tried either
                notes.append(f"{dialect}: unreachable ({down})")
                return Capabilities(context=context, notes=tuple(notes), cost=cost, reached=False)
            notes.append(f"{dialect}: refused ({error.kind})")
            continue
        cost = cost + reply.cost
        if _is_probe_answer(reply.text):
            found = dialect
            break
        notes.append(f"{dialect}: ignored (the answer did not follow the schema)")
    return Capabilities(dialect=found, context=context, notes=tuple(notes), cost=cost)


def _is_probe_answer(text: str) -> bool:
    from agent.edits import split_reasoning  # a reasoning model thinks first, even under a schema

    try:
        data = json.loads(split_reasoning(text)[0].strip())
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("probe") == PROBE_VALUE
