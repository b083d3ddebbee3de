"""`strop knowledge add|search|list|remove|rebuild` and `strop memory list|search|forget`.

The store lives in `$STROP_HOME/knowledge` (episodic memory in its `memory/`
folder). This module parses, prints and calls `knowledge/`; the store's own
errors (missing, corrupt, busy, unknown source) become one-line user errors.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from agent.cli import app
from agent.cli.render import err, out, plural, print_json, printable, safe
from agent.errors import UserError
from agent.home import knowledge_dir

if TYPE_CHECKING:
    from rich.console import Console

    from knowledge import KnowledgeStore, Memory

knowledge_app = typer.Typer(
    help=(
        "What strop knows: your docs, code, papers, notebooks and playbooks, searched offline "
        "(MiniLM embeddings fused with BM25).\n\n"
        "Start with `strop knowledge add docs/ src/` then `strop knowledge search 'out of memory'`. "
        "Playbook format: `python -c 'import knowledge.chunkers.playbook as p; help(p)'`."
    ),
    no_args_is_help=True,
)
memory_app = typer.Typer(
    help=(
        "Lessons strop learned from its own experiments: error signatures, what fixed them, "
        "score deltas, with evidence and a confidence."
    ),
    no_args_is_help=True,
)
app.add_typer(knowledge_app, name="knowledge")
app.add_typer(memory_app, name="memory")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of text.")]


def store_path() -> Path:
    return knowledge_dir()


def memory_path() -> Path:
    return knowledge_dir() / "memory"


@contextmanager
def _user_errors() -> Iterator[None]:
    from knowledge import KnowledgeError

    try:
        yield
    except KnowledgeError as error:
        raise UserError(str(error)) from None


_EMBEDDER: dict[str, Path] = {}  # set by the group's --embedder option


@knowledge_app.callback()
def knowledge_options(
    embedder: Annotated[
        Path | None,
        typer.Option(
            "--embedder",
            envvar="STROP_EMBEDDER",
            help="A quantized MiniLM's embedder.json (from `strop evolve quant --model minilm`) instead "
            "of fp32 MiniLM; a store is searched with the embedder that built it.",
        ),
    ] = None,
) -> None:
    """What strop knows (see the group's help)."""
    _EMBEDDER.clear()
    if embedder is not None:
        _EMBEDDER["path"] = embedder


def _embedder() -> object | None:
    if "path" not in _EMBEDDER:
        return None
    from agent.domains.quantization.embedder import QuantizedMiniLMEmbedder

    return QuantizedMiniLMEmbedder(_EMBEDDER["path"])


def _open_store(create: bool) -> KnowledgeStore:
    from knowledge import KnowledgeStore

    # a write waits for another writer as long as that one lives (`_waiting_for_writer` says so);
    # a dead writer's lock is free at once (an OS lock), so a killed add never blocks the next one
    return KnowledgeStore.open(store_path(), embedder=_embedder(), create=create, lock_timeout=math.inf)  # type: ignore[arg-type]


WAIT_REMINDER_S = 60.0
"""How often a write that waits for another writer says it still waits."""


@contextmanager
def _waiting_for_writer() -> Iterator[None]:
    """While inside, a write that finds another process writing the store says so on stderr, once,
    then every `WAIT_REMINDER_S` seconds (before: silence for 60 s, then a failure)."""
    from knowledge.lock import waiting_notices

    said = [-math.inf]

    def notice(pid: int | None, waited: float) -> None:
        if waited - said[0] < WAIT_REMINDER_S:
            return
        writer = f"the store's writer (pid {pid})" if pid else "the store's writer"
        if said[0] == -math.inf:
            line = f"waiting for {writer} to finish (another `strop knowledge` command or a run's ingest) …"
        else:
            line = f"still waiting for {writer} to finish ({waited / 60:.0f} min) …"
        said[0] = waited
        with contextlib.suppress(OSError):
            err.print(line, markup=False, highlight=False)

    with waiting_notices(notice):
        yield


@contextmanager
def _interruptible(said: Callable[[], str]) -> Iterator[None]:
    """Ctrl-C, SIGTERM or SIGHUP during a write: the write stops where it is (its files closed, the
    store's `writing.json` mark gone, as a Ctrl-C always did), one line (`said()`) tells what is
    kept; Ctrl-C exits 130, SIGTERM and SIGHUP then end the process by that signal (status -15,
    143 in a shell), as `strop run` and `strop nightly` do. Before, a SIGTERM killed the write at
    once, with no word and the mark left behind, so the next command probed the store for damage."""
    from agent.loop.interrupts import end_by, received, stop_signals

    try:
        with stop_signals():
            yield
    except KeyboardInterrupt:
        signum = received()
        with contextlib.suppress(OSError):  # a closed terminal took our stderr with it
            err.print(said(), markup=False, highlight=False)
        if signum is not None:
            end_by(signum)
        raise typer.Exit(130) from None


def _open_memory() -> Memory:
    from knowledge import Memory

    return Memory.open(memory_path())


def _progress_ingest(action: str, run: object) -> object:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(f"{action} chunks"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(action, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return run(progress)  # type: ignore[operator]


def _plain(console: Console, text: str) -> None:
    """Print stored data as written, less its control characters: no markup, no emoji codes
    (`root:x:0:0` must not become an emoji), and no ESC sequence (a passage or a file name
    holding one cleared and retitled the user's terminal)."""
    console.print(printable(text), markup=False, emoji=False)


NO_TEXT = "no text"
NO_TEXT_SHOWN = 3  # names shown on the one line that sums up the files without text


def _path(path: str) -> str:
    """A file name as one printable line: a newline, tab or other control character in it is
    shown escaped (`a\\nb.md`), so a name cannot spread over two lines or drive the terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in path)


def _print_report(report: object, json_out: bool) -> None:
    """Print what an add or rebuild did; exit 1 when a file could not be read (`_unreadable`)."""
    data = report.as_dict()  # type: ignore[attr-defined]
    unreadable = _unreadable(data["errors"])  # type: ignore[arg-type]
    if json_out:
        print_json(data | {"unreadable": unreadable})
    else:
        _print_text_report(data)
    if unreadable:
        raise typer.Exit(UNREADABLE_EXIT)


UNREADABLE_EXIT = 1
"""`add`'s and `rebuild`'s exit status when some file could not be read (what could be read is stored)."""


def _unreadable(errors: list[str]) -> list[str]:
    """The files among an add's errors that could not be read: a permission or I/O error, which
    the store reports as `path: <the OS's words for it>`. A file skipped by policy (too big,
    binary, a credential) is no error, and one read but not parsed (`path: <why>`) does not count."""
    found = []
    for line in errors:
        reason = next((r for r in _OS_REASONS if line.endswith(f": {r}")), None)
        if reason is not None:
            found.append(line[: -len(reason) - 2])
    return found


_OS_REASONS = sorted({os.strerror(code) for code in errno.errorcode}, key=len, reverse=True)
"""What the OS says for each error number (`Permission denied`, `Input/output error`)."""


def _print_text_report(data: dict[str, object]) -> None:
    out.print(
        f"added {data['added']}, updated {data['updated']}, removed {data['removed']}, "
        f"unchanged {data['skipped']} files; embedded {plural(data['chunks_embedded'], 'chunk')} in {data['seconds']:.1f}s"  # type: ignore[arg-type]
    )
    empty = [item["source"] for item in data["unsupported"] if item["reason"] == NO_TEXT]  # type: ignore[attr-defined,index]
    for item in data["unsupported"]:  # type: ignore[attr-defined]
        if item["reason"] != NO_TEXT:
            _plain(err, f"skipped ({item['reason']}): {_path(item['source'])}")
    if empty:  # empty __init__.py and py.typed files: a project has a hundred, nothing to act on
        more = f" and {len(empty) - NO_TEXT_SHOWN} more" if len(empty) > NO_TEXT_SHOWN else ""
        names = ", ".join(_path(source) for source in empty[:NO_TEXT_SHOWN])
        _plain(err, f"skipped {plural(len(empty), 'file')} with no text (empty): {names}{more}")
    for line in data["errors"]:  # type: ignore[attr-defined]
        _plain(err, f"not ingested: {_path(line)}")
    for path in data["left_out"]:  # type: ignore[attr-defined]
        _plain(err, f"left out (removed earlier; add it by name to take it back): {_path(path)}")


def _given_path(text: str, what: str) -> str:
    """A path argument as typed; an empty one (an unset shell variable) is refused, not read as
    `.`: `strop knowledge add "$DOCS"` must not ingest, or `remove` forget, the whole current folder.
    Kept a string: `Path` would fold a URL's `//` and the store could no longer tell it is one."""
    if not text:
        raise UserError(f"an empty {what}: name a file or folder (use . for the current folder)")
    return text


@knowledge_app.command("add")
def add_command(
    paths: Annotated[
        list[str], typer.Argument(help="Files, folders or git repos (git's ignore rules apply).")
    ],
    json_out: JsonFlag = False,
) -> None:
    """Ingest files, folders and git repos; again later to pick up changes.

    Python is split by function and class, Markdown/RST by heading, PDFs by page,
    notebooks by cell, playbooks by typed section, other text by size. Unchanged files
    are skipped by hash, changed ones replaced, files gone from a folder removed.
    Each file left out gets a `skipped (reason): path` line on stderr; files with no text
    (empty `__init__.py`) are counted on one line. Interrupted (Ctrl-C, SIGTERM), the same add
    resumes. While another process writes the store, the add waits for it, saying so.

    Exit status: 0 when done, files skipped by policy (too big, binary, holding a credential)
    included; 1 when some file could not be read (permission or I/O error: a `not ingested`
    line, `unreadable` in --json; the other files are stored); 2 for a bad path or a store
    error; 130 after Ctrl-C (a SIGTERM ends it by that signal).

    Example:  strop knowledge add docs/ src/ paper.pdf   then   strop knowledge search "out of memory"
    """
    given = [_given_path(text, "path") for text in paths]
    stored = [0]

    def add(progress: Callable[[int, int], None]) -> object:
        def counted(done: int, total: int) -> None:
            stored[0] = done
            progress(done, total)

        return store.add(given, progress=counted)

    def said() -> str:
        return (
            f"interrupted after storing {plural(stored[0], 'chunk')}; run the same "
            "`strop knowledge add` again to resume: the chunks embedded so far are kept"
        )

    with _user_errors(), _interruptible(said), _waiting_for_writer():
        store = _open_store(create=True)
        report = _progress_ingest("embedding", add)
    _print_report(report, json_out)


@knowledge_app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="Words, an identifier or an error message.")],
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            "-t",
            help="Only this entry type (repeatable): workflow, implementation, "
            "environment, heuristic, lesson, reference.",
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="How many hits.")] = 5,
    json_out: JsonFlag = False,
) -> None:
    """Find the chunks that best match QUERY (dense and BM25 rankings, fused).

    `--json` prints a list of hits: source, location, type, score, text, title, ranks.

    Example:  strop knowledge search "CUDA out of memory" --type heuristic --k 3
    """
    from knowledge import parse_entry_type

    if not query.strip():
        raise UserError("the query is empty: give words, an identifier or an error message")

    try:
        wanted = [parse_entry_type(t).value for t in types] if types else None
    except ValueError as error:
        raise UserError(str(error)) from None
    with _user_errors():
        hits = _open_store(create=False).search(query, k=k, types=wanted)
    if json_out:
        print_json([hit.as_dict() for hit in hits])
        return
    if not hits:
        err.print("no hits")
    for rank, hit in enumerate(hits, start=1):
        title = f"  {safe(hit.title, one_line=True)}" if hit.title else ""
        heading = (
            f"[bold]{rank}. {escape(_path(hit.source))}[/] ({safe(hit.location, one_line=True)}) "
            f"[cyan]{hit.type}[/] score {hit.score:.2f}{title}"
        )
        out.print(heading, markup=True, emoji=False)
        _plain(out, "   " + " ".join(hit.text.split())[:240])


@knowledge_app.command("list")
def list_command(json_out: JsonFlag = False) -> None:
    """List the ingested source files with their chunk counts and types.

    Example:  strop knowledge list --json
    """
    with _user_errors():
        sources = _open_store(create=False).list_sources()
    if json_out:
        print_json(
            [
                {"source": s.source, "root": s.root, "chunks": s.chunks, "types": list(s.types)}
                for s in sources
            ]
        )
        return
    for s in sources:
        _plain(out, f"{s.chunks:5d}  {_path(s.source)}  {', '.join(s.types)}")
    err.print(f"{plural(len(sources), 'source')}, {plural(sum(s.chunks for s in sources), 'chunk')}")


@knowledge_app.command("remove")
def remove_command(
    source: Annotated[str, typer.Argument(help="A source file, or a folder: every file under it goes.")],
) -> None:
    """Forget a source file, or every file under a folder (your files are not touched).

    A path inside an added folder stays out when that folder is added again or the
    store rebuilt, until the path itself (or one inside it) is added.

    Example:  strop knowledge remove docs/drafts   (see `strop knowledge list` for what is in)
    """
    path = _given_path(source, "source")

    def said() -> str:
        return (
            f"interrupted: {_path(path)} may be partly removed; run the same `strop knowledge remove` again"
        )

    with _user_errors(), _interruptible(said), _waiting_for_writer():
        store = _open_store(create=False)
        removed = _remove(store, path)
    out.print(f"removed {plural(removed, 'source file')}")


# the escapes `_path` writes for a character it cannot show (`\n`, `\x1b`, `\u200b`)
_ESCAPE = re.compile(r"\\(?:[ntr]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})")


def _remove(store: KnowledgeStore, path: str) -> int:
    """`store.remove(path)`; when no source is `path` as typed, the name `strop knowledge list`
    showed: its escapes (`new\\nline.txt`) read back as the characters they stand for."""
    from knowledge import EntryNotFound

    try:
        return store.remove(path)
    except EntryNotFound:
        unescaped = _unescaped(path)
        if unescaped == path:
            raise
        try:
            return store.remove(unescaped)
        except EntryNotFound:
            raise EntryNotFound(
                f"the knowledge store holds no source {path} (nor one named with the characters its "
                "escapes stand for); see `strop knowledge list`"
            ) from None


def _unescaped(text: str) -> str:
    """`text` with each escape `_path` writes replaced by its character, when that is one `_path`
    escapes (not printable); other backslashes stay as typed."""

    def character(match: re.Match[str]) -> str:
        code = match.group(0)
        number = {"\\n": 10, "\\t": 9, "\\r": 13}.get(code) or int(code[2:], 16)
        if number == 0 or number > 0x10FFFF or 0xD800 <= number <= 0xDFFF:
            return code  # no file name holds it (NUL, a surrogate, past Unicode): as typed
        char = chr(number)
        return code if char.isprintable() else char

    return _ESCAPE.sub(character, text)


@knowledge_app.command("rebuild")
def rebuild_command(json_out: JsonFlag = False) -> None:
    """Rebuild a corrupt or outdated store: move it aside and re-ingest its recorded roots.

    The old files go to `$STROP_HOME/knowledge.broken-<time>` (delete them when done);
    episodic memory is kept. When the store's own records of its sources are lost, the
    files named in its vector database are re-ingested instead. Exit status as `add`'s.

    Example:  strop knowledge rebuild   (when a command says the store is corrupt)
    """
    from knowledge import KnowledgeStore

    stored = [0]

    def rebuild(progress: Callable[[int, int], None]) -> object:
        def counted(done: int, total: int) -> None:
            stored[0] = done
            progress(done, total)

        return KnowledgeStore.rebuild(store_path(), progress=counted, lock_timeout=math.inf)

    def said() -> str:
        return (
            f"interrupted after storing {plural(stored[0], 'chunk')}; run `strop knowledge rebuild` "
            "again to finish it"
        )

    with _user_errors(), _interruptible(said), _waiting_for_writer():
        report = _progress_ingest("re-embedding", rebuild)
    _print_report(report, json_out)


@memory_app.command("list")
def memory_list_command(
    task: Annotated[str | None, typer.Option("--task", help="Only lessons from this task.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """List lessons, most confident first.

    Example:  strop memory list --json
    """
    with _user_errors():
        lessons = _open_memory().lessons()
    lessons = [lesson for lesson in lessons if task is None or lesson.task_name == task]
    lessons.sort(key=lambda lesson: -lesson.confidence)
    if json_out:
        print_json([lesson.as_dict() for lesson in lessons])
        return
    for lesson in lessons:
        _plain(out, f"{lesson.id} {lesson.render()}")
    err.print(plural(len(lessons), "lesson"))


@memory_app.command("search")
def memory_search_command(
    query: Annotated[str, typer.Argument(help="An error message, a goal or an idea.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="How many lessons.")] = 5,
    json_out: JsonFlag = False,
) -> None:
    """Find the lessons closest to QUERY.

    Example:  strop memory search "CUDA out of memory"
    """
    with _user_errors():
        found = _open_memory().search(query, k=k)
    if json_out:
        print_json([s.lesson.as_dict() | {"score": round(s.score, 4)} for s in found])
        return
    if not found:
        err.print("no hits")
    for s in found:
        _plain(out, f"{s.lesson.id} ({s.score:.2f}) {s.lesson.render()}")


@memory_app.command("forget")
def memory_forget_command(
    lesson_ids: Annotated[
        list[str] | None, typer.Argument(help="Lesson ids from `strop memory list`.")
    ] = None,
    forget_all: Annotated[bool, typer.Option("--all", help="Forget every lesson and trace.")] = False,
) -> None:
    """Delete lessons by id, or all of them with --all.

    Example:  strop memory forget L93e64c64f2   (ids from strop memory list)
    """
    if not lesson_ids and not forget_all:
        raise UserError("name lesson ids to forget, or pass --all")
    with _user_errors():
        gone = _open_memory().forget(None if forget_all else lesson_ids)
    out.print(f"forgot {plural(gone, 'lesson')}")
