"""Query/passage pairs for retrieval, built offline from the docstrings of Python's standard library.

For each public function or class of a fixed list of modules whose docstring has at
least two paragraphs, the query is the first paragraph (the one-line summary, ≥ 5
words) and the passage is `module.name: ` followed by the remaining paragraphs (≥ 10
words): retrieval must match what a thing does to how it is described in detail.
Nothing is downloaded; the pairs depend only on the interpreter (3.11 here), so they
are the same on every run of one machine.

Split by a fixed rule: a pair belongs to the **selection** set when crc32 of its
qualified name is even, else to the **held-out** set; inside each set pairs are
ordered by that crc32 and the first N are kept. The search calibrates (GPTQ inputs,
HAWQ traces) and selects on the selection set only; the held-out set is read once
per chosen configuration, for the report.

Recall@5: a query is a hit when its own passage is among the 5 passages of its set
nearest by cosine (the set's passages are the corpus).
"""

from __future__ import annotations

import importlib
import inspect
import warnings
import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np

MODULES = [
    "abc",
    "argparse",
    "array",
    "ast",
    "asyncio",
    "base64",
    "binascii",
    "bisect",
    "bz2",
    "calendar",
    "cmath",
    "codecs",
    "codeop",
    "colorsys",
    "collections",
    "concurrent.futures",
    "configparser",
    "contextlib",
    "copy",
    "csv",
    "ctypes",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "dis",
    "doctest",
    "email.utils",
    "enum",
    "filecmp",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "gc",
    "getpass",
    "gettext",
    "glob",
    "graphlib",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http.client",
    "imaplib",
    "importlib",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "locale",
    "logging",
    "lzma",
    "mailbox",
    "math",
    "mimetypes",
    "multiprocessing",
    "netrc",
    "numbers",
    "operator",
    "os",
    "os.path",
    "pathlib",
    "pdb",
    "pickle",
    "pkgutil",
    "platform",
    "plistlib",
    "poplib",
    "pprint",
    "pstats",
    "queue",
    "quopri",
    "random",
    "re",
    "reprlib",
    "runpy",
    "sched",
    "secrets",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "site",
    "smtplib",
    "socket",
    "sqlite3",
    "ssl",
    "stat",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "sys",
    "sysconfig",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "time",
    "timeit",
    "tokenize",
    "tomllib",
    "trace",
    "traceback",
    "tracemalloc",
    "types",
    "typing",
    "unicodedata",
    "unittest",
    "urllib.parse",
    "uuid",
    "warnings",
    "wave",
    "weakref",
    "xml.etree.ElementTree",
    "xmlrpc.client",
    "zipfile",
    "zipimport",
    "zlib",
    "zoneinfo",
]
SELECTION_SIZE, HELDOUT_SIZE = 32, 128
TOP_K = 5


@dataclass(frozen=True)
class Pair:
    key: str  # module.name
    query: str
    passage: str


@dataclass(frozen=True)
class PairSets:
    selection: tuple[Pair, ...]
    heldout: tuple[Pair, ...]


def _pair(module: str, name: str, obj: object) -> Pair | None:
    if not (inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.isclass(obj)):
        return None
    doc = inspect.getdoc(obj)
    if not doc:
        return None
    paragraphs = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return None
    summary, rest = paragraphs[0], " ".join(paragraphs[1:])
    if len(summary.split()) < 5 or len(rest.split()) < 10 or summary.startswith(name + "("):
        return None
    return Pair(f"{module}.{name}", summary, f"{module}.{name}: {rest}")


@cache
def all_pairs() -> tuple[Pair, ...]:
    """Every pair, one per distinct summary (re-exports keep their first module in MODULES order)."""
    found: dict[str, Pair] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in MODULES:
            try:
                mod = importlib.import_module(module)
            except ImportError:
                continue
            for name in sorted(dir(mod)):
                if name.startswith("_"):
                    continue
                pair = _pair(module, name, getattr(mod, name, None))
                if pair is not None and pair.query not in found:
                    found[pair.query] = pair
    return tuple(found.values())


def _crc(pair: Pair) -> int:
    return zlib.crc32(pair.key.encode())


def pair_sets(selection: int = SELECTION_SIZE, heldout: int = HELDOUT_SIZE) -> PairSets:
    """The fixed split (see the module docstring)."""
    ordered = sorted(all_pairs(), key=lambda p: (_crc(p), p.key))
    chosen = [p for p in ordered if _crc(p) % 2 == 0][:selection]
    held = [p for p in ordered if _crc(p) % 2 == 1][:heldout]
    return PairSets(tuple(chosen), tuple(held))


def recall_hits(queries: np.ndarray, passages: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Per query i (unit vectors), whether passage i is among the k passages nearest by cosine."""
    sims = queries @ passages.T
    own = np.diag(sims)
    better = (sims > own[:, None]).sum(axis=1)
    return better < k


def cosine_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine between matching rows of two sets of unit vectors (1.0: identical embeddings)."""
    return float(np.mean(np.sum(a * b, axis=1)))
