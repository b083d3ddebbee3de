"""MiniLM's query vectors are kept per process: the same text gives the same vector, without the model."""

from __future__ import annotations

import time

import numpy as np
import pytest

import knowledge.embedder
from knowledge.embedder import MiniLMEmbedder


def test_a_repeated_query_is_answered_from_the_kept_vectors(
    minilm: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = f"Maximise score. {time.time_ns()}"  # a text no other test embedded
    first = minilm.embed([text, "another query"])

    def no_model() -> None:
        raise AssertionError("the model was asked again")

    with monkeypatch.context() as patch:
        patch.setattr(knowledge.embedder, "_load_minilm", no_model)
        again = MiniLMEmbedder().embed([text])  # another instance: the vectors are per process
    assert np.array_equal(again[0], first[0])
    again[0][:] = 0.0  # a caller's array is its own
    assert np.array_equal(minilm.embed([text])[0], first[0])
    other = MiniLMEmbedder(max_tokens=8).embed([text])  # another setting is another vector
    assert other.shape == (1, 384) and not np.array_equal(other[0], first[0])
