"""A marked line: one line of the user's own file whose value the offline proposer rewrites.

    LEARNING_RATE = 0.1   # strop: learning_rate     Python, TOML, shell, INI
    lr: float = 0.1       # strop: lr                Python with a type (the `=` wins)
    "lr": 0.1,            # strop: lr                a Python dict entry
    size: 8               # strop: size              YAML
    const flag = false;   // strop: flag             JavaScript, JSON with comments
    static const int N = 8;  // strop: n             C, C++, CUDA (not a `#define`, not `0.001f`)

The value is what follows the separator up to the comment (a `,` or `;` just before the comment
stays where it is). The separator is the first `=` outside quotes, else the first `:`: so a
typed Python line reads 0.1, not `float = 0.1`. In a YAML file it is the first `: ` (YAML's own
key separator), so `opts: a=b` has the value `a=b`.

A value is read, and a new one written, in the file's own language (its *dialect*, from its
suffix): YAML `true` and `1.0e-05`, Python `True` and `1e-05`, JSON/JavaScript `true`; a string
keeps the quotes it had (`"fifo"` becomes `"lru"`, `'fifo'` becomes `'lru'`, a bare YAML `fifo`
becomes a bare `lru` when YAML reads that back as the same string). C reads and writes its values
as JSON does (`1e-05`, `true`, `"lru"`); a C number with a suffix (`0.001f`, `100L`) is no value
strop can write back as it was, and a `#define` has no `=`: each is refused, with the line to
write instead (`static const float LR = 0.001;  // strop: lr`).

`parse` tells three lines apart: no mark (None), a usable mark (`Mark`), and a line that holds a
`strop:` comment the reader cannot use (`Unusable`, with the form expected): before this module,
such a line matched nothing, and a run searched with every value going to a file nothing read.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

from sandbox.pyparse import literal_eval

Dialect = Literal["python", "yaml", "json", "toml", "plain", "c"]

_SUFFIXES: dict[str, Dialect] = {
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".json": "json",
    ".jsonc": "json",
    ".json5": "json",
    ".js": "json",
    ".mjs": "json",
    ".cjs": "json",
    ".ts": "json",
    ".sh": "plain",
    ".bash": "plain",
    ".env": "plain",
    ".ini": "plain",
    ".cfg": "plain",
    ".conf": "plain",
    ".properties": "plain",
    ".mk": "plain",
    **dict.fromkeys((".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".cu", ".cuh"), "c"),
}
_PLAIN_NAMES = frozenset({"makefile", "gnumakefile", ".env", "dockerfile"})
"""Files whose values are words as written (`DEBUG=false`, `MODE=fifo`): shell, make, .env, INI.
A Python `True` or `'lru'` written there changes what they mean (`[ "$DEBUG" = true ]` fails,
`--env-file` keeps the quotes), so a value keeps the form of the one it replaces."""

_EXAMPLES: dict[Dialect, str] = {
    "python": '`SIZE = 8  # strop: size` or, in a dict, `"size": 8,  # strop: size`',
    "yaml": "`size: 8  # strop: size`",
    "json": '`"size": 8,  // strop: size` or `const size = 8;  // strop: size`',
    "toml": "`size = 8  # strop: size`",
    "plain": "`SIZE=8  # strop: size`",
    "c": "`static const int BLOCK = 8;  // strop: block`",
}

_COMMENT = re.compile(r"(#|//)\s*strop\s*:")
_TAIL = re.compile(
    r"^(?P<code>.*?)(?P<tail>\s*[,;]?\s*(?P<style>#|//)\s*strop\s*:\s*(?P<name>[A-Za-z_]\w*)\s*)$"
)
_C_SUFFIXED = re.compile(
    r"(?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))(?P<suffix>[fFlLuU]+)"
)
"""A C number with a type suffix (`0.001f`, `100L`, `8u`): the suffix is C's, not part of the value."""
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}
_YAML_BARE = re.compile(r"^[A-Za-z_][\w.\-/]*$")


@dataclass(frozen=True)
class Mark:
    """A usable marked line: `head` + `value` + `tail` is the line; `value` is the literal as written."""

    name: str
    head: str
    value: str
    tail: str
    dialect: Dialect

    def read(self) -> Any:
        """The value as the file's language reads it (a string when it is no literal)."""
        return literal(self.value, self.dialect)

    def with_value(self, value: Any) -> str:
        """The line with `value` in place of the old one, written as the file writes its values."""
        return f"{self.head}{render(value, self.value, self.dialect)}{self.tail}"


@dataclass(frozen=True)
class Unusable:
    """A line with a `strop:` comment that no value can be read from or written into."""

    why: str
    expected: str

    def message(self, where: str, line: str) -> str:
        shown = line.strip()
        shown = shown if len(shown) <= 70 else shown[:67] + "..."
        return f"{where}: `{shown}` is not a marked line strop can use ({self.why}); write {self.expected}"


def dialect_of(path: str | PurePath) -> Dialect | None:
    """The language a file's values are written in, from its suffix (None: decided per line)."""
    pure = PurePath(path)
    if pure.name.lower() in _PLAIN_NAMES:
        return "plain"
    return _SUFFIXES.get(pure.suffix.lower())


def example(dialect: Dialect | None) -> str:
    """A marked line of `dialect`, as the form an error message asks for."""
    return _EXAMPLES[dialect or "python"]


def instead(mark: Mark, dialect: Dialect | None) -> str:
    """What to write in place of a marked line whose value is no single value of its parameter.

    A C number with a suffix (`0.001f`) gets its own line back without the suffix, which C reads
    as the same value (`static const float LR = 0.001;` converts the double): putting the value
    "on a line of its own" was no help there, since it was on one. Anything else (a call, a
    mapping) gets a line of the file's own kind.
    """
    suffixed = _C_SUFFIXED.fullmatch(mark.value) if mark.dialect in ("c", "json") else None
    if suffixed is not None:
        line = f"{mark.head}{suffixed['number']}{mark.tail}".strip()
        return (
            f"the suffix `{suffixed['suffix']}` is C's, not a value strop can rewrite (it would replace "
            f"the whole `{mark.value}`); write the number without it: `{line}`"
        )
    shown = example(dialect or mark.dialect)
    return f"strop would replace all of it; put the value on a line of its own, e.g. {shown}"


def parse(line: str, dialect: Dialect | None) -> Mark | Unusable | None:
    """The mark on `line`, if any; `dialect` None reads the line's own signs (`//`, `:` or `=`)."""
    if not (commented := _COMMENT.search(line)):
        return None
    hint = example(dialect or ("json" if commented[1] == "//" else None))
    matched = _TAIL.match(line)
    if matched is None:
        return Unusable("`strop:` must be followed by one [space] name and end the line", hint)
    code, style = matched["code"], matched["style"]
    yaml = dialect == "yaml"
    split = _separator(code, equals=not yaml, colon_needs_space=yaml)
    if split is None:
        define = code.lstrip().startswith("#") and code.lstrip()[1:].lstrip().startswith("define")
        return Unusable("a `#define` has no `=`" if define else "no `=` or `:` before the value", hint)
    after = code[split + 1 :]
    value = after.lstrip()
    if not value:
        return Unusable("no value between the separator and the comment", hint)
    chosen = dialect or _line_dialect(style, code[split])
    head = code[: split + 1] + after[: len(after) - len(value)]
    kept = ""
    if (comment := _comment_start(value, "//" if chosen in ("json", "c") else "#")) is not None:
        value, kept = value[:comment].rstrip(), value[len(value[:comment].rstrip()) :]
        if not value:
            return Unusable("no value between the separator and the comment", hint)
    return Mark(matched["name"], head, value, kept + matched["tail"], chosen)


def _comment_start(value: str, sign: str) -> int | None:
    """Where a comment of the user's own starts inside `value` (`0.1 # the rate`), outside quotes
    and after a space; None when there is none. It stays on the line: only the value is replaced."""
    quote = ""
    for index, char in enumerate(value):
        if quote:
            if char == quote:
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif value.startswith(sign, index) and index > 0 and value[index - 1] in " \t":
            return index
    return None


def literal(text: str, dialect: Dialect) -> Any:
    """A value as written in `dialect`; text that is no literal comes back as the text, unquoted."""
    if dialect == "yaml":
        return _yaml_literal(text)
    if dialect == "toml":
        try:
            return tomllib.loads(f"v = {text}")["v"]
        except (tomllib.TOMLDecodeError, RecursionError):
            return _python_literal(text)
    if dialect in ("json", "c"):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return _python_literal(text)  # JavaScript's 'single quotes'
    if dialect == "plain" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return _python_literal(text)


def render(value: Any, old: str, dialect: Dialect) -> str:
    """`value` written in `dialect`; a string quoted as `old` was (`"`, `'`, or bare in YAML)."""
    if isinstance(value, bool):
        if dialect == "python":
            return repr(value)
        word = "true" if value else "false"
        if dialect == "plain" and old.isupper() and old.isalpha():
            return word.upper()
        return word.capitalize() if dialect in ("yaml", "plain") and old[:1] in ("T", "F") else word
    if isinstance(value, str):
        return _string(value, old, dialect)
    if value is None:
        return {"python": "None", "yaml": "null", "plain": "", "c": "NULL"}.get(dialect, "null")
    if isinstance(value, float):
        return _float(value, dialect)
    if isinstance(value, int):
        return str(value)
    return repr(value) if dialect == "python" else json.dumps(value)


def _separator(code: str, equals: bool, colon_needs_space: bool) -> int | None:
    """The index of the first `=` outside quotes (when `equals`), else of the first such `:`."""
    first_colon: int | None = None
    quote = ""
    escaped = False
    for index, char in enumerate(code):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif char == "=" and equals and _lone_equals(code, index):
            return index
        elif char == ":" and first_colon is None:
            following = code[index + 1 : index + 2]
            if not colon_needs_space or following in ("", " ", "\t"):
                first_colon = index
    return first_colon


def _lone_equals(code: str, index: int) -> bool:
    """An assignment's `=`, not a part of `==`, `!=`, `<=` or `>=`."""
    before, after = code[index - 1 : index], code[index + 1 : index + 2]
    return after != "=" and before not in ("=", "!", "<", ">")


def _line_dialect(style: str, separator: str) -> Dialect:
    """For a file of no known suffix: `//` comments are JavaScript's, `key: value` lines YAML's,
    `NAME=value` lines words as written (`plain`: a shell script, a config of some tool)."""
    if style == "//":
        return "json"
    return "yaml" if separator == ":" else "plain"


def _python_literal(text: str) -> Any:
    try:
        return literal_eval(text)
    except (ValueError, SyntaxError, RecursionError, MemoryError):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text.strip("'\"")


def _yaml_literal(text: str) -> Any:
    """As PyYAML reads it, except that an unquoted `1e-5` is the number YAML 1.2 reads, not a string."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text.strip("'\"")
    if isinstance(value, str) and text[:1] not in ("'", '"'):
        try:
            return float(text)
        except ValueError:
            return value
    return value


def _string(value: str, old: str, dialect: Dialect) -> str:
    quote = old[:1] if old[:1] in ("'", '"') else ""
    if quote == "'" and "'" not in value and "\\" not in value and value.isprintable():
        return f"'{value}'"
    if quote:
        return json.dumps(value, ensure_ascii=False)  # a valid "string" in all four languages
    if dialect == "yaml" and _bare_yaml(value):
        return value
    if dialect == "plain" and value and all(char.isalnum() or char in "._-/+:@%," for char in value):
        return value  # a bare word stays bare: `MODE=lru`, as `MODE=fifo` was
    return repr(value) if dialect == "python" else json.dumps(value, ensure_ascii=False)


def _bare_yaml(value: str) -> bool:
    """Whether YAML reads `value` unquoted as this same string (not a number, a bool or null)."""
    if not _YAML_BARE.match(value) or value.lower() in _YAML_WORDS:
        return False
    try:
        float(value)
    except ValueError:
        return _yaml_literal(value) == value
    return False


def _float(value: float, dialect: Dialect) -> str:
    if dialect == "yaml":
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        mantissa, _, exponent = text.partition("e")
        if exponent and "." not in mantissa:  # PyYAML reads `1e-05` as a string, `1.0e-05` as a float
            text = f"{mantissa}.0e{exponent}"
        return text
    if dialect in ("json", "c"):
        return json.dumps(value)
    return repr(value)  # python, toml, plain: `0.1`, `1e-05`
