"""A scripted OpenAI-compatible endpoint on 127.0.0.1, for testing anything that calls a model.

Like httpx's `MockTransport`, this fake ships with the product: users test their
own tasks and prompts against it with no network and no key. It speaks just
enough of the chat-completions protocol (`POST …/chat/completions`, `GET …/models`)
for the real `openai` client, and replays a script of `Reply`s, one per request:

    with ScriptedServer([Reply.text("plan…"), Reply.error(429, retry_after=0.1), Reply.hang()]) as server:
        # `model_info={"max_model_len": 4096}` adds fields to the model's `GET /models` entry
        client = OpenAI(base_url=server.base_url, api_key="unused")
        ...
        server.requests  # what it received: method, path, headers, parsed JSON body

A script may also be a function `(RecordedRequest) -> Reply`, to answer from the
prompt (or from `response_format`, to play an endpoint with constrained decoding); what it raises is kept in `server.errors` and answered with a 500. Once a list is
used up the server answers 400 "script exhausted", which clients do not retry, so a test
that asks too often fails loudly.

A request with `"stream": true` is answered as server-sent events, one chunk per ~4
characters (one "token"), `chunk_delay` seconds apart, then the finish reason, then the
usage chunk when the client asked for it (`stream_options.include_usage`) and the reply
has usage. A client that closes the stream early is seen as a failed write: the request
number lands in `server.cancelled` and the chunks sent before it in `server.sent`, which
is how a test proves a dropped call stopped generating on the server too.

For what real servers send besides the usual chunks, `Reply.events(...)` streams the
events given, verbatim (a dict is one `data:` event, bytes go as they are: tool calls
with `content: null`, `reasoning_content`, usage in another place, bytes that are not
UTF-8), and `Reply.reset(content, after=n)` resets the connection (TCP RST) after `n`
chunks, as a crashing server or a proxy does mid-body.

Written on the standard library's `http.server` (a thread per request, so a
hanging reply does not block the next one) because the point is a real socket
the real client talks to, with no dependency beyond Python itself.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Script = Iterable["Reply"] | Callable[["RecordedRequest"], "Reply"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build them with the class methods; `body` (raw bytes) wins over `content`."""

    status: int = 200
    content: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    finish_reason: str = "stop"
    usage: bool = True
    trickle: float = 0.0  # > 0: send the body one byte per `trickle` seconds
    chunk_delay: float = 0.0  # streaming: seconds between chunks (a slow generator)
    stream: tuple[bytes, ...] | None = None  # streaming: these events verbatim, instead of `content`'s
    reset_after: int | None = None  # streaming: reset the connection after this many content chunks
    hold: float = 0.0  # streaming: then keep the connection open this long, sending nothing

    @classmethod
    def text(
        cls,
        content: str,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        delay: float = 0.0,
        finish_reason: str = "stop",
        chunk_delay: float = 0.0,
    ) -> Reply:
        """A normal completion. Token counts default to a chars/4 estimate of prompt and reply.

        `delay`: seconds before the first byte (a slow first token); `chunk_delay`: seconds
        between streamed chunks (a slow generator).
        """
        return cls(
            content=content,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            delay=delay,
            finish_reason=finish_reason,
            chunk_delay=chunk_delay,
        )

    @classmethod
    def slow(cls, content: str, chunk_delay: float = 0.5, **kwargs: Any) -> Reply:
        """A completion streamed one chunk every `chunk_delay` seconds (a model that generates slowly)."""
        return cls.text(content, chunk_delay=chunk_delay, **kwargs)

    @classmethod
    def context_overflow(cls, limit: int = 8192, asked: int = 9000) -> Reply:
        """A 400 as llama.cpp / vLLM send it when the prompt does not fit the context window."""
        return cls.error(
            400,
            f"This model's maximum context length is {limit} tokens. However, you requested {asked} "
            "tokens. Please reduce the length of the messages or completion.",
        )

    @classmethod
    def no_usage(cls, content: str) -> Reply:
        """A completion without a `usage` object, as some local servers send."""
        return cls(content=content, usage=False)

    @classmethod
    def error(cls, code: int, message: str = "", retry_after: float | None = None) -> Reply:
        """An error status with an OpenAI-style error body and, optionally, a Retry-After header."""
        error = {"error": {"message": message or f"scripted status {code}", "type": "scripted", "code": code}}
        headers: tuple[tuple[str, str], ...] = ()
        if retry_after is not None:
            headers = (("Retry-After", f"{retry_after:g}"),)
        return cls(status=code, body=json.dumps(error).encode(), headers=headers)

    @classmethod
    def events(cls, *events: dict[str, Any] | bytes, done: bool = True, hold: float = 0.0) -> Reply:
        """A streamed answer of exactly these events: a dict is sent as `data: <json>`, bytes as they are.

        `done` ends the stream with `data: [DONE]`; `hold` then keeps the connection open that
        many seconds (a server that never ends the stream). For a non-streamed request the body
        is the events joined. Each bytes item is written on its own, so one huge event can be
        sent as many references to one block, without holding it whole.
        """
        raw = [e if isinstance(e, bytes) else b"data: " + json.dumps(e).encode() + b"\n\n" for e in events]
        if done:
            raw.append(b"data: [DONE]\n\n")
        return cls(stream=tuple(raw), hold=hold)

    @classmethod
    def reset(cls, content: str, after: int = 2, **kwargs: Any) -> Reply:
        """A completion whose connection is reset (TCP RST) after `after` content chunks."""
        return cls(content=content, reset_after=after, **kwargs)

    @classmethod
    def hang(cls, seconds: float = 3600.0) -> Reply:
        """Accept the request and send nothing for `seconds` (until the server stops, at most)."""
        return cls(status=200, content="", delay=seconds)

    @classmethod
    def trickling(cls, content: str = "slow", interval: float = 0.2) -> Reply:
        """A completion whose body arrives one byte every `interval` seconds: no read timeout fires."""
        return cls(content=content, trickle=interval)

    @classmethod
    def malformed(cls, body: bytes = b'{"id": "x", "choices": [ {"broken') -> Reply:
        """A 200 whose body is not valid JSON."""
        return cls(status=200, body=body)

    @classmethod
    def huge(cls, chars: int = 5_000_000, filler: str = "x") -> Reply:
        """A completion whose text is `chars` characters long."""
        return cls.text((filler * (chars // max(1, len(filler)) + 1))[:chars])


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any] | None
    raw: bytes = field(repr=False, default=b"")

    @property
    def prompt(self) -> str:
        """All message contents of a chat request, joined: what a test searches for leaks."""
        messages = (self.body or {}).get("messages") or []
        return "\n".join(str(message.get("content", "")) for message in messages)


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ScriptedServer:
    """An OpenAI-compatible HTTP server on 127.0.0.1 (a free port) that replays a script."""

    def __init__(
        self,
        script: Script,
        model: str = "scripted-model",
        model_info: dict[str, Any] | None = None,
        port: int = 0,
    ) -> None:
        """`port` 0 takes a free one; a given port plays a server that comes back where it was."""
        self.model = model
        self.model_info = dict(model_info or {})  # extra fields of the model's `GET /models` entry
        self._lock = threading.Lock()
        self._responder = script if callable(script) else None
        self._queue: list[Reply] = [] if callable(script) else list(script)
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self.errors: list[Exception] = []  # what a responder function raised
        self.cancelled: list[int] = []  # numbers (from 1) of streamed requests the client closed early
        self.sent: dict[int, int] = {}  # request number -> content chunks streamed before it ended
        self.times: dict[int, tuple[float, float]] = {}  # request number -> (arrived, answered), monotonic
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ScriptedServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, *replies: Reply) -> None:
        """Append replies to a list script."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def completions(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    # ------------------------------------------------------------------ serving
    def _next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._responder is not None:
                try:
                    return self._responder(request)
                except Exception as error:  # kept for the test to see; the client gets a 500
                    self.errors.append(error)
                    return Reply.error(500, f"scripted server: the responder raised {error!r}")
            if not self._queue:
                return Reply.error(400, "scripted server: script exhausted")
            return self._queue.pop(0)

    def _completion(self, reply: Reply, request: RecordedRequest) -> bytes:
        content = reply.content or ""
        prompt_tokens = (
            reply.prompt_tokens if reply.prompt_tokens is not None else estimate_tokens(request.prompt)
        )
        completion_tokens = (
            reply.completion_tokens if reply.completion_tokens is not None else estimate_tokens(content)
        )
        data: dict[str, Any] = {
            "id": f"chatcmpl-scripted-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": (request.body or {}).get("model") or self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": reply.finish_reason,
                }
            ],
        }
        if reply.usage:
            data["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        return json.dumps(data).encode()

    def _chunks(self, reply: Reply, request: RecordedRequest, number: int) -> list[bytes]:
        """The server-sent events of a streamed completion: content pieces, finish, usage, [DONE]."""
        content = reply.content or ""
        body = request.body or {}
        model = body.get("model") or self.model
        base = {"id": f"chatcmpl-scripted-{number}", "object": "chat.completion.chunk", "model": model}
        base["created"] = int(time.time())

        def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

        size = max(4, -(-len(content) // 2000))  # ~4 chars a chunk; at most 2000 chunks for huge replies
        pieces = [content[i : i + size] for i in range(0, len(content), size)]
        events = [event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
        events += [event([{"index": 0, "delta": {"content": p}, "finish_reason": None}]) for p in pieces]
        events.append(event([{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]))
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if reply.usage and wants_usage:
            prompt_tokens = (
                reply.prompt_tokens if reply.prompt_tokens is not None else estimate_tokens(request.prompt)
            )
            completion_tokens = (
                reply.completion_tokens if reply.completion_tokens is not None else estimate_tokens(content)
            )
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            events.append(event([], usage=usage))
        events.append(b"data: [DONE]\n\n")
        return events

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `requests`
                return

            def _record(self) -> RecordedRequest:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                return RecordedRequest(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw
                )

            def _send(
                self, status: int, body: bytes, headers: Iterable[tuple[str, str]] = (), trickle: float = 0
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                try:
                    if not trickle:
                        self.wfile.write(body)
                        return
                    for index in range(len(body)):
                        self.wfile.write(body[index : index + 1])
                        self.wfile.flush()
                        if server._stopping.wait(trickle):
                            return
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                request = self._record()
                with server._lock:
                    server.requests.append(request)
                entry = {"id": server.model, "object": "model", **server.model_info}
                models = {"object": "list", "data": [entry]}
                self._send(200, json.dumps(models).encode())

            def _stream(self, reply: Reply, request: RecordedRequest, number: int) -> None:
                """Send a completion as server-sent events; a closed connection is a cancellation."""
                events = (
                    list(reply.stream) if reply.stream is not None else server._chunks(reply, request, number)
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                sent = 0
                try:
                    for index, data in enumerate(events):
                        if index > 1 and reply.chunk_delay and server._stopping.wait(reply.chunk_delay):
                            return
                        if reply.trickle:
                            for byte in range(len(data)):
                                self.wfile.write(data[byte : byte + 1])
                                self.wfile.flush()
                                if server._stopping.wait(reply.trickle):
                                    return
                        else:
                            self.wfile.write(data)
                            self.wfile.flush()
                        sent += 1 if 0 < index < len(events) - 1 else 0
                        if reply.reset_after is not None and sent >= reply.reset_after:
                            self._reset()
                            return
                    if reply.hold:
                        server._stopping.wait(reply.hold)
                except (BrokenPipeError, ConnectionResetError):
                    with server._lock:
                        server.cancelled.append(number)
                finally:
                    with server._lock:
                        server.sent[number] = sent

            def _reset(self) -> None:
                """Close the socket with a TCP RST (SO_LINGER 0), not a FIN: a connection reset mid-body."""
                import socket
                import struct

                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def do_POST(self) -> None:
                arrived = time.monotonic()
                request = self._record()
                reply = server._next(request)
                with server._lock:
                    number = len(server.requests)
                try:
                    self._answer(reply, request, number)
                finally:
                    with server._lock:
                        server.times[number] = (arrived, time.monotonic())

            def _answer(self, reply: Reply, request: RecordedRequest, number: int) -> None:
                if reply.delay and server._stopping.wait(reply.delay):
                    self.close_connection = True
                    return
                streamed = bool((request.body or {}).get("stream"))
                if reply.stream is not None and not streamed:
                    self._send(reply.status, b"".join(reply.stream), reply.headers, reply.trickle)
                    return
                if streamed and reply.status == 200 and reply.body is None:
                    self._stream(reply, request, number)
                    return
                if reply.body is not None:
                    body = reply.body
                elif reply.status == 200:
                    body = server._completion(reply, request)
                else:
                    body = json.dumps({"error": {"message": "scripted", "code": reply.status}}).encode()
                self._send(reply.status, body, reply.headers, reply.trickle)

        return Handler
