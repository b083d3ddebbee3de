"""Edits: what a model's answer asks to change, parsed, checked and applied to the parent's files.

The path guard (`guard.PathGuard`) refuses paths outside the workspace, git's own files, protected
evaluator files and files that make tools run code without anyone running the artifact
(`guard.TOOL_CONFIG`: .pre-commit-config.yaml, .github/, .envrc, .vscode/…).

Two forms are accepted, in any mix, in one answer; they apply in the order written.

SEARCH/REPLACE blocks, fenced or not, with the file's path on the line before
(or in the opening fence's info string, or inherited from the previous block):

    model.py
    ```python
    <<<<<<< SEARCH
    learning_rate=0.1,
    =======
    learning_rate=0.05,
    >>>>>>> REPLACE
    ```

  Markers may have 5 to 9 `<`/`=`/`>` and any case. An empty SEARCH creates the
  file, or appends to it when it exists. The path line may be written `model.py`,
  `` `model.py` ``, `**model.py**`, `File: model.py`, `### model.py`.

Whole files, in a fenced block that names its path, either in the info string
(```` ```python path=model.py ````, also `file=`, `filename=`, `title=`, or the
path alone: ```` ```model.py ````) or on the line just before the fence
(`File: model.py`, `` `model.py`: ``, `**model.py**`, `# model.py`). A fence
without a path is ignored and the model is told so. A file whose text holds
```` ``` ```` must be fenced with four backticks.

A SEARCH must match the file in exactly one place. Matching tries, in order:
exact lines; lines equal after trailing whitespace and blank edge lines are
dropped; then lines equal after all whitespace is normalised, with the same
indentation shift on every line (the replacement is shifted the same way).
When nothing matches, the feedback quotes the file's closest lines.

A path that leaves the workspace (absolute, `..`, through a link), enters `.git`,
is a protected evaluator file (also through a link inside the workspace), names a
folder, needs a file as a folder, or is ignored by git (the commit would drop it) is
refused; so is a name that reads as another: an invisible, control or non-plain space
character in it, a backslash, a name beginning or ending in a space, or a protected file's
name in another letter case or Unicode form (`Train.py`: on macOS it is `train.py`). The
refusal is feedback, not an error.
Deleting files is not supported. A file's line endings are kept: edits to a CRLF file (SEARCH/REPLACE,
whole file or append) leave it CRLF, so its diff shows only the lines that changed.

Reasoning models (DeepSeek-R1, Qwen3, QwQ through Ollama, vLLM or llama.cpp without a
reasoning parser) open their answer with a `<think>…</think>` block, or, when the chat
template opened it, with only the closing `</think>` (at a line's end, outside any fence or
SEARCH/REPLACE block: in the answer's code it is code). `split_reasoning` sets that block
aside: nothing in it is an edit, a plan or an `EXTEND:`, however edit-like; an answer cut
inside it holds no answer at all.

A fence still open when the answer ends is never a whole file, whatever the finish reason:
a file cut mid-way would silently lose its tail, and an answer ending in an opening fence and
nothing else emptied the file. The model is told (in other words when `parse_answer(text,
cut=True)`: `finish_reason = length` or a dropped stream). An answer may change at most
`MAX_FILES` files; edits to more are refused.

A line `EXTEND: reason` outside code asks the turn policy for more turns. A path
line that is prose with one backticked path in it ("Here is `model.py`:") names that
path, but only a path that already exists: a file is created only when the answer names
it as a path (in the fence, or on a line of its own), never from a sentence that
mentions "`np.mean`". Unified diffs, fenced or not, are not applied; the model is told to use
SEARCH/REPLACE.

Written by hand: the formats are conventions of LLM output, not a grammar any
parsing library knows, and the feedback has to speak to the model.

The package, one concept a module: `forms` (the parsed edits), `markers` (fences and
SEARCH/REPLACE markers), `reasoning` (think blocks), `parser`, `matching`, `guard` (paths)
and `apply`.
"""

from agent.edits.apply import MAX_FILES, EditOutcome, EditProblem, apply_edits, apply_search_replace, reader
from agent.edits.forms import Edit, ParsedAnswer, SearchReplace, WholeFile
from agent.edits.guard import PathGuard
from agent.edits.matching import closest_lines, find_unique
from agent.edits.parser import parse_answer
from agent.edits.reasoning import split_reasoning

__all__ = [
    "Edit",
    "EditOutcome",
    "EditProblem",
    "MAX_FILES",
    "ParsedAnswer",
    "PathGuard",
    "SearchReplace",
    "WholeFile",
    "apply_edits",
    "apply_search_replace",
    "closest_lines",
    "find_unique",
    "parse_answer",
    "reader",
    "split_reasoning",
]
