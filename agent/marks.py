"""A marked line: one line of the user's own file whose value the offline proposer rewrites.

    LEARNING_RATE = 0.1   # strop: learning_rate     Python, TOML, shell, INI
    lr: float = 0.1       # strop: lr                Python with a type (the `=` wins)
    "lr": 0.1,            # strop: lr                a Python dict entry
    size: 8               # strop: size              YAML
    const flag = false;   // strop: flag             JavaScript, JSON with comments
    static const float LR = 0.001f;  // strop: lr    C, C++, CUDA (not a `#define`)
    static const float LR = 0.001f;  /* strop: lr */ C's block comment (C and the `//` languages)

The value is what follows the separator up to the comment (a `,` or `;` just before the comment
stays where it is). The separator is the first `=` outside quotes, else the first `:`: so a
typed Python line reads 0.1, not `float = 0.1`. In a YAML file it is the first `: ` (YAML's own
key separator), so `opts: a=b` has the value `a=b`.

A value is read, and a new one written, in the file's own language (its *dialect*, from its
suffix): YAML `true` and `1.0e-05`, Python `True` and `1e-05`, JSON/JavaScript `true`; a string
keeps the quotes it had (`"fifo"` becomes `"lru"`, `'fifo'` becomes `'lru'`, a bare YAML `fifo`
becomes a bare `lru` when YAML reads that back as the same string). C reads and writes its values
as JSON does (`1e-05`, `true`, `"lru"`), and its number literals as C (`CNumber`): `0.001f`, `8UL`,
`0x10` read as numbers, and a new value keeps the literal's suffix, base and kind (`0.001f`
becomes `0.002f`, and 1 becomes `1.0f`, since `1f` is no C; `0x10` becomes `0x20`): dropping the
`f` made a `float` a `double`. A value the literal cannot hold (0.5 for `16u`, -1 for `8u`) is
refused before the run (`cannot_hold`), and so is a float parameter on a line that declares an
integer type (`static const int N = 1;`, Rust's `N: i32`, Go's `var n int`, Java's `int N`): C
truncated 0.47 to 0 while the record said 0.47. A `#define` has no `=`: it is refused, with the line to
write instead (`static const int BLOCK = 8;  // strop: block`).

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

_COMMENT = re.compile(r"(#|//|/\*)\s*strop\s*:")
_TAIL = re.compile(
    r"^(?P<code>.*?)(?P<tail>\s*[,;]?\s*(?P<style>#|//|/\*)\s*strop\s*:\s*(?P<name>[A-Za-z_]\w*)"
    r"\s*(?P<close>\*/)?\s*)$"
)
_BLOCK_COMMENTS: frozenset[Dialect] = frozenset({"c", "json"})
"""Dialects where `/* strop: NAME */` is a comment (C, C++, CUDA, JavaScript and the `//` languages)."""
_C_SUFFIXED = re.compile(
    r"(?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))(?P<suffix>[fFlLuU]+)"
)
"""Anything like a number with a type suffix (`0.001f`, `1f`, `8uu`): valid C or not, for the hint."""
_C_NUMBER = re.compile(
    r"(?P<sign>[-+]?)(?:"
    r"(?P<floating>(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?P<float_suffix>[fFlL]?)"
    r"|(?P<integer>0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)"
    r"(?P<int_suffix>(?:[uU](?:ll|LL|[lL])?|(?:ll|LL|[lL])[uU]?)?))"
)
"""A C number literal as C writes it: a floating one with `f` or `l` (either case) or none, an
integer one (decimal, `0x` hex, `0` octal) with `u`, `l`, `ll` in C's orders and cases (`8ULL`,
`8llu`; not `8lL`). Not hex floats, digit separators or C23's `wb` and `df`."""
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


@dataclass(frozen=True)
class CNumber:
    """A C number literal taken apart (`-`, `0x`, `10`, `UL`), so a new value is written as the
    same kind of literal: a `float` constant stays a `float` (`0.001` is a `double`: dropping the
    `f` changes the program's types, and `-Wdouble-promotion` says so).
    """

    sign: str
    prefix: str  # "0x" or "0X" (hex), "0" (octal), "" (decimal)
    digits: str
    floating: bool
    suffix: str

    @classmethod
    def parse(cls, text: str) -> CNumber | None:
        """The literal `text` is, or None when it is none C reads (`1f`, `8lL`, `1.5u`, `08`)."""
        matched = _C_NUMBER.fullmatch(text)
        if matched is None:
            return None
        if matched["floating"] is not None:
            return cls(matched["sign"], "", matched["floating"], True, matched["float_suffix"])
        integer = matched["integer"]
        prefix = (
            integer[:2] if integer[1:2] in ("x", "X") else "0" if integer[:1] == "0" and integer[1:] else ""
        )
        return cls(matched["sign"], prefix, integer[len(prefix) :], False, matched["int_suffix"])

    @property
    def value(self) -> int | float:
        number = (
            float(self.digits) if self.floating else int(self.digits, {"0": 8, "": 10}.get(self.prefix, 16))
        )
        return -number if self.sign == "-" else number

    @property
    def plain(self) -> bool:
        """A decimal integer without a suffix: any number written in its place is C (`N = 0.5;`)."""
        return not (self.floating or self.prefix or self.suffix)

    @property
    def kind(self) -> str:
        if self.floating:
            return "floating literal"
        unsigned = "u" in self.suffix.lower()
        base = {"": "", "0": "octal "}.get(self.prefix, "hex ")
        return f"{'unsigned ' if unsigned else ''}{base}integer literal"

    def holds(self, value: Any) -> bool:
        """Whether `value` can be written as this kind of literal (not `0.5` as an integer, not -1
        as an unsigned one, not a string or a bool as any)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if isinstance(value, float) and (not self.floating or not math.isfinite(value)):
            return False
        return not ("u" in self.suffix.lower() and value < 0) and not self.out_of_range(value)

    def out_of_range(self, value: int | float) -> str:
        """The range of the literal's own type when `value` is outside it, in words ("" inside).

        Written past it, the program is not the one searched: `1e+39f` is inf, `4294967296u` in an
        `unsigned` is 0, `1e-50f` is 0, and C++'s braces refuse it (a narrowing). An integer
        literal's type is taken from its suffix (LP64: long is 64 bits); a plain decimal one is
        read as JSON's number, its type the declaration's, which strop cannot see.
        """
        if self.floating:
            return _float_range(value) if self.suffix.lower() == "f" else ""
        low, high, name = _int_range(self.suffix.lower(), self.prefix)
        return "" if low <= value <= high else f"{low}..{high} ({name})"

    def written(self, value: int | float) -> str:
        """`value` as this kind of literal: `0.002f` for `0.001f`, `1.0f` for 1, `0x20` for `0x10`."""
        negative = value < 0 or (isinstance(value, float) and math.copysign(1.0, value) < 0)
        sign = "-" if negative else "+" if self.sign == "+" else ""
        if self.floating:
            return f"{sign}{_float_digits(abs(float(value)), self.suffix)}{self.suffix}"
        magnitude = abs(int(value))
        if self.prefix in ("0x", "0X"):
            width = len(self.digits) if self.digits.startswith("0") else 0  # `0x0010` stays 4 digits
            digits = format(magnitude, f"0{width}x")
            digits = digits.upper() if any(char in "ABCDEF" for char in self.digits) else digits
        elif self.prefix == "0":
            digits = format(magnitude, "o")
        else:
            digits = str(magnitude)
        return f"{sign}{self.prefix}{digits}{self.suffix}"


FLOAT_MAX = 3.4028234663852886e38
"""The largest finite `float` (FLT_MAX)."""


def _float_range(value: float) -> str:
    """ "" when a `float` holds `value` (finite, and not 0 when it is not), else its range in words."""
    import numpy as np

    with np.errstate(over="ignore", under="ignore"):
        single = np.float32(value)
    if np.isfinite(single) and (single != 0 or value == 0):
        return ""
    return f"±{FLOAT_MAX:.8g} and, when not 0, at least {float(np.finfo(np.float32).smallest_subnormal):.8g} in size (a float)"


def _int_range(suffix: str, prefix: str) -> tuple[int, int, str]:
    """The values an integer literal with `suffix` is of its own type for (LP64), and the type."""
    if "u" in suffix:
        return (0, 2**64 - 1, "an unsigned long") if "l" in suffix else (0, 2**32 - 1, "an unsigned int")
    if "l" in suffix:
        return -(2**63), 2**63 - 1, "a long"
    if prefix:  # hex or octal with no suffix: an int, or an unsigned int where it does not fit one
        return -(2**31), 2**32 - 1, "an int"
    return -(2**31), 2**31 - 1, "an int"


def _float_digits(value: float, suffix: str) -> str:
    """The shortest decimal C reads back as the same number of the literal's type: a `float` (an
    `f` suffix) holds 24 bits, so `0.08056775f`, not the double's `0.08056775408023126f` (C rounds
    both to one float). Always with a `.` or an `e`, as a floating literal needs."""
    if suffix.lower() != "f" or not math.isfinite(value):
        return repr(value)
    import numpy as np

    with np.errstate(over="ignore"):
        single = np.float32(value)
    if not np.isfinite(single):  # past a float's range: C makes it inf either way, say it as written
        return repr(value)
    shortest = np.format_float_positional(single, unique=True, trim="0")
    if "e" not in repr(value) and len(shortest) <= 20:
        return shortest
    return np.format_float_scientific(single, unique=True, trim="0")


def cannot_hold(mark: Mark, value: Any) -> str | None:
    """Why a marked literal cannot hold `value` (`0.5` for `16u`), or the variable it is declared
    as cannot (`0.5` in `static const int N = 1;`, which C truncates to 0), with what to write
    instead; or None. A plain decimal `8` holds any number, as JSON's does: `N = 0.5;` is C.
    """
    number = CNumber.parse(mark.value) if mark.dialect == "c" else None
    if number is not None and not number.plain and not number.holds(value):
        return _literal_refusal(mark, number, value)
    return _declared_refusal(mark, value)


def _literal_refusal(mark: Mark, number: CNumber, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        fix = f"make {mark.name}'s choices numbers"
    elif isinstance(value, float) and not number.floating:
        fix = f"give {mark.name} integer values (an int parameter), or write a floating literal (`{number.value}.0`)"
    elif isinstance(value, float) and not math.isfinite(value):
        fix = f"keep {mark.name} to finite numbers"
    elif "u" in number.suffix.lower() and value < 0:
        bare = f"{number.sign}{number.prefix}{number.digits}{number.suffix.replace('u', '').replace('U', '')}"
        fix = f"drop the `u` (`{bare}`), or raise {mark.name}'s low to 0"
    else:
        within = number.out_of_range(value)
        fix = f"keep {mark.name} within {within}"
        if number.floating:
            fix += ", or drop the `f` (a double)"
        elif 0 <= value < 2**64:
            fix += f", or write an unsigned long long literal (`{number.prefix}{number.digits}ull`)"
    return (
        f"`{mark.value}` is a C {number.kind}, which cannot hold [space] {mark.name}'s value {value!r}: {fix}"
    )


_INTEGER_TYPES = frozenset(
    {
        # C, C++, CUDA (the `<stdint.h>` ones are matched by `_FIXED_INTEGER`)
        *("char", "short", "int", "long", "signed", "unsigned", "bool", "_Bool"),
        *("size_t", "ssize_t", "ptrdiff_t", "intptr_t", "uintptr_t", "intmax_t", "uintmax_t", "off_t"),
        # Java, C#, Kotlin, Swift, Scala
        *("byte", "sbyte", "ushort", "uint", "ulong", "nint", "nuint", "Integer", "Long", "Short", "Byte"),
        *("Int", "UInt", "ULong", "UShort", "UByte", "Int8", "Int16", "Int32", "Int64"),
        *("UInt8", "UInt16", "UInt32", "UInt64"),
        # Go
        *("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "uintptr", "rune"),
        # Rust
        *("i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize"),
    }
)
_FIXED_INTEGER = re.compile(r"__u?int128(_t)?|u?int(_fast|_least)?(8|16|32|64)_t")
_FLOATING_TYPES = frozenset(
    {
        *("float", "double", "half", "__half", "__nv_bfloat16", "__bf16", "_Float16", "_Float32", "_Float64"),
        *("bfloat16", "float16", "float32", "float64", "f16", "f32", "f64", "Float", "Double", "Decimal"),
        *("decimal", "number", "real"),
    }
)
_UNSIGNED_TYPES = frozenset(
    {
        *("unsigned", "size_t", "uintptr_t", "uintmax_t", "uint", "ushort", "ulong", "nuint", "uintptr"),
        *("UInt", "ULong", "UShort", "UByte", "UInt8", "UInt16", "UInt32", "UInt64"),
        *("uint8", "uint16", "uint32", "uint64", "u8", "u16", "u32", "u64", "u128", "usize"),
    }
)
_FIXED_UNSIGNED = re.compile(r"__uint128(_t)?|uint(_fast|_least)?(8|16|32|64)_t")
_DECLARATION_TOKEN = re.compile(r"[A-Za-z_]\w*(?:::[A-Za-z_]\w*)*|\S")


@dataclass(frozen=True)
class _Declared:
    """The integer type a marked line declares its variable as (`static const int ALPHA`), found
    by its words: C's and Java's `TYPE NAME =`, Go's `var NAME TYPE =`, Rust's `NAME: TYPE =`."""

    name: str
    words: list[tuple[int, int]]  # the type's words in the line, start and end (those to replace)
    style: Literal["c", "go", "colon"]

    def text(self, line: str) -> str:
        return line[self.words[0][0] : self.words[-1][1]]

    def unsigned(self, line: str) -> bool:
        bases = [_base(line[start:end]) for start, end in self.words]
        return any(base in _UNSIGNED_TYPES or _FIXED_UNSIGNED.fullmatch(base) for base in bases)

    def floating_line(self, line: str) -> str:
        """The line with a floating type in place of the integer one, in the line's own language."""
        text = self.text(line)
        if self.style == "colon":
            floating = "f64" if re.fullmatch(r"[iu]\d+|[iu]size", text) else "Double"
        elif self.style == "go":
            floating = "float64"
        else:
            floating = "Double" if text[:1].isupper() else "double"
        return line[: self.words[0][0]] + floating + line[self.words[-1][1] :]


def _base(word: str) -> str:
    return word.rsplit("::", 1)[-1]


def _declared(mark: Mark) -> _Declared | None:
    """The integer type the marked line declares its variable as, or None (none is written, `auto`,
    `var`, a floating type, or a line of a language whose variables take any number)."""
    if mark.dialect not in _BLOCK_COMMENTS:
        return None  # Python's `n: int = 1` holds 0.5 as 0.5; YAML, TOML, shell have no types
    declaration = mark.head.rstrip()
    if not declaration.endswith("="):
        return None  # a `key: value` entry
    declaration = declaration[:-1]
    tokens = [(m.start(), m.end(), m.group()) for m in _DECLARATION_TOKEN.finditer(declaration)]
    run: list[tuple[int, int, str]] = []
    for token in reversed(tokens):
        if not (token[2][0].isalpha() or token[2][0] == "_" or token[2] == ":"):
            break
        run.insert(0, token)
    words = [token for token in run if token[2] != ":"]
    if len(words) < 2:
        return None
    colons = [index for index, token in enumerate(run) if token[2] == ":"]
    if colons:  # Rust, TypeScript, Kotlin, Swift: `NAME: TYPE`
        name, typed, style = run[colons[-1] - 1][2], run[colons[-1] + 1 :], "colon"
    elif mark.dialect == "json" and len(words) == 3 and words[0][2] in ("var", "const"):  # Go
        name, typed, style = words[1][2], words[2:], "go"
    else:  # C, C++, Java, C#: `TYPE NAME`
        name, typed, style = words[-1][2], words[:-1], "c"
    bases = [_base(token[2]) for token in typed]
    if not typed or any(base in _FLOATING_TYPES for base in bases):
        return None
    integer = [
        token
        for token, base in zip(typed, bases, strict=True)
        if base in _INTEGER_TYPES or _FIXED_INTEGER.fullmatch(base)
    ]
    if not integer:
        return None
    return _Declared(name, [(start, end) for start, end, _ in integer], style)  # type: ignore[arg-type]


def _declared_refusal(mark: Mark, value: Any) -> str | None:
    """Why the marked line's declared integer type cannot hold `value` (`0.5` in an `int`: C
    truncates it to 0, Java and Go refuse it, and the record and the search read 0.5), or None."""
    declared = _declared(mark)
    if declared is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    line = f"{mark.head}{mark.value}{mark.tail}".strip()
    head = mark.head.lstrip()
    offset = len(mark.head) - len(head)
    shifted = _Declared(declared.name, [(s - offset, e - offset) for s, e in declared.words], declared.style)
    typename = shifted.text(line)
    shown = line if len(line) <= 70 else line[:67] + "..."
    if isinstance(value, float):
        example = value if not value.is_integer() else value + 0.5
        held = (
            f"C truncates it to {int(example)}"
            if mark.dialect == "c" and math.isfinite(example) and abs(example) < 2**31
            else "no value of that type"
        )
        return (
            f"`{shown}` declares {declared.name} as `{typename}`, an integer type, which cannot hold "
            f"[space] {mark.name}'s values such as {example!r} ({held}, while the record and the search "
            f"say {example!r}): give {mark.name} integer values (an int parameter), or declare a floating "
            f"type: `{shifted.floating_line(line)}`"
        )
    if value < 0 and shifted.unsigned(line):
        return (
            f"`{shown}` declares {declared.name} as `{typename}`, an unsigned type, which cannot hold "
            f"[space] {mark.name}'s value {value!r} (it would wrap around to a large number): raise "
            f"{mark.name}'s low to 0, or declare a signed type"
        )
    if mark.dialect == "c" and (held_range := _c_range(typename)) is not None:
        low, high = held_range
        if not low <= value <= high:
            return (
                f"`{shown}` declares {declared.name} as `{typename}`, which holds {low}..{high}: [space] "
                f"{mark.name}'s value {value!r} is past it (C's conversion wraps it or is undefined, while "
                f"the record and the search say {value!r}): keep {mark.name} within {low}..{high}, or "
                "declare a wider type (`long long`, `int64_t`)"
            )
    return None


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

    Something that looks like a suffixed number but is none C reads (`1f`, `1.5u`), or a suffixed
    number in a file whose language has no suffixes, gets its own line back as a number that is
    read (`1.0f`, `1.5`): putting the value "on a line of its own" was no help there, since it was
    on one. Anything else (a call, a mapping) gets a line of the file's own kind.
    """
    suffixed = _C_SUFFIXED.fullmatch(mark.value) if mark.dialect in ("c", "json") else None
    if suffixed is not None and (mark.dialect != "c" or CNumber.parse(mark.value) is None):
        number, suffix = suffixed["number"], suffixed["suffix"]
        if mark.dialect == "c":
            floating = suffix.lower() in ("f", "l") and not number.lower().startswith(("0x", "-0x", "+0x"))
            fixed = f"{number}.0{suffix}" if floating and not re.search(r"[.eE]", number) else number
            line = f"{mark.head}{fixed}{mark.tail}".strip()
            return f"`{mark.value}` is no number C reads; write `{line}`"
        line = f"{mark.head}{number}{mark.tail}".strip()
        return (
            f"the suffix `{suffix}` is read in C, C++ and CUDA files (.c, .h, .cpp, .cu, ...), not here; "
            f"write the number without it: `{line}`"
        )
    shown = example(dialect or mark.dialect)
    return f"strop would replace all of it; put the value on a line of its own, e.g. {shown}"


def parse(line: str, dialect: Dialect | None) -> Mark | Unusable | None:
    """The mark on `line`, if any; `dialect` None reads the line's own signs (`//`, `:` or `=`)."""
    if not (commented := _COMMENT.search(line)):
        return None
    hint = example(dialect or ("json" if commented[1] in ("//", "/*") else None))
    matched = _TAIL.match(line)
    if matched is None or (matched["close"] is not None and matched["style"] != "/*"):
        return Unusable("`strop:` must be followed by one [space] name and end the line", hint)
    code, style = matched["code"], matched["style"]
    if style == "/*":
        if matched["close"] is None:
            return Unusable("a `/* strop: NAME` comment must end with `*/` on its line", hint)
        if (dialect or "json") not in _BLOCK_COMMENTS:
            return Unusable("`/* */` is no comment in this file's language", hint)
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
    signs = ("//", "/*") if chosen in _BLOCK_COMMENTS else ("#",)
    if (comment := _comment_start(value, signs)) is not None:
        value, kept = value[:comment].rstrip(), value[len(value[:comment].rstrip()) :]
        if not value:
            return Unusable("no value between the separator and the comment", hint)
    return Mark(matched["name"], head, value, kept + matched["tail"], chosen)


def _comment_start(value: str, sign: tuple[str, ...]) -> int | None:
    """Where a comment of the user's own starts inside `value` (`0.1 # the rate`, `0.1 /* the rate */`),
    outside quotes and after a space; None when there is none. It stays on the line: only the value
    is replaced."""
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
    if dialect == "c" and (number := CNumber.parse(text)) is not None:
        return number.value  # `0.001f`, `8UL`, `0x10`, `010` (8, as C reads it)
    if dialect in ("json", "c"):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return _python_literal(text)  # JavaScript's 'single quotes'
    if dialect == "plain" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return _python_literal(text)


def render(value: Any, old: str, dialect: Dialect) -> str:
    """`value` written in `dialect`; a string quoted as `old` was (`"`, `'`, or bare in YAML), a C
    number as the literal `old` was (`0.001f` → `0.002f`)."""
    if dialect == "c" and (number := CNumber.parse(old)) is not None and number.holds(value):
        return number.written(value)
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
    if style in ("//", "/*"):
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


_C_WIDTHS = {"char": 8, "short": 16, "int": 32, "long": 64}
_C_FIXED = re.compile(r"(u?)int(?:_fast|_least)?(8|16|32|64)_t")


def _c_range(typename: str) -> tuple[int, int] | None:
    """The values a C integer type holds on the LP64 machines strop runs on (`int` 32 bits,
    `long` 64, `size_t` 64), or None when the words name no type of a known width."""
    words = [_base(word) for word in typename.split()]
    unsigned = "unsigned" in words
    bits: int | None = None
    for word in words:
        if fixed := _C_FIXED.fullmatch(word):
            unsigned, bits = bool(fixed.group(1)), int(fixed.group(2))
        elif word in ("size_t", "uintptr_t", "uintmax_t"):
            unsigned, bits = True, 64
        elif word in ("ssize_t", "intptr_t", "intmax_t", "ptrdiff_t"):
            bits = 64
    if bits is None:  # `short int` is a short, `long long` and `unsigned long` are 64 bits on LP64
        bits = next((_C_WIDTHS[word] for word in ("char", "short", "long", "int") if word in words), None)
    if bits is None and (unsigned or "signed" in words):
        bits = 32  # `unsigned x` is an unsigned int
    if bits is None:
        return None
    if unsigned:
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
