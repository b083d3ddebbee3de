"""The one exception a chunker raises for a file it cannot read.

It lives apart from `knowledge.chunkers` so that format modules (PDF,
notebook) can raise it without importing the dispatcher that imports them.
"""

from __future__ import annotations


class UnsupportedFile(ValueError):
    """The file is binary, not UTF-8, or malformed for its format; it is skipped, not an error of the store.

    The message is the one-line reason shown next to the skipped path.
    """
