"""Tokens known by a prefix of their own: GitHub's fine-grained `github_pat_…` tokens, and tokens
of letters alone (a Hugging Face token may hold no digit).

A file holding one was ingested and `strop knowledge search` printed it; memory's redaction,
which uses the same scan, left it in a trace. Names that share a prefix stay no credential.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.credentials import find_credentials
from knowledge.embedder import HashingEmbedder
from knowledge.memory.trace import CREDENTIAL, ExperimentTrace, redacted
from knowledge.store import KnowledgeStore

GITHUB_PAT = (
    "github_pat_11ABCDEFG0abcdefghijkl_" + "mNoPqRsTuV1wXyZaBcDeF2gHiJkLmNoP3qRsTuVwXyZ4aBcDeFgHiJ5kLmN"
)
HF_LETTERS = "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"
OPENAI_LETTERS = "sk-proj-QwErTyUiOpAsDfGhJkLzXcVbNmQwErTyUiOpAsDf"
GOOGLE_LETTERS = "AIzaSyQwErTyUiOpAsDfGhJkLzXcVbNmQwErTyU"


def test_the_token_shapes_are_the_real_ones() -> None:
    assert len(GITHUB_PAT) == len("github_pat_") + 22 + 1 + 59
    assert len(HF_LETTERS) == 3 + 34 and not any(c.isdigit() for c in HF_LETTERS)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"git clone https://{GITHUB_PAT}@github.com/acme/private.git\n", GITHUB_PAT),
        (f'gh = Github("{GITHUB_PAT}")\n', GITHUB_PAT),
        (f"GITHUB_TOKEN={GITHUB_PAT}\n", GITHUB_PAT),
        (f'login("{HF_LETTERS}")\n', HF_LETTERS),
        (f"export HF_TOKEN={HF_LETTERS}\n", HF_LETTERS),
        (f'client = OpenAI(api_key="{OPENAI_LETTERS}")\n', OPENAI_LETTERS),
        (f'url = f"https://maps.googleapis.com/maps/api/js?key={GOOGLE_LETTERS}"\n', GOOGLE_LETTERS),
    ],
)
def test_a_prefixed_token_is_found_with_or_without_a_digit(text: str, secret: str) -> None:
    assert secret in find_credentials(text)


@pytest.mark.parametrize(
    "text",
    [
        "hf_tokenizer_config_loader_value_x = load()\n",
        "from transformers import hf_HubDownloadWithRetriesAndCachingForEveryModelFile\n",
        "def hf_loadHFModelFromURLWithRetriesAndBackoff(): ...\n",
        "hf_abcdefghijklmnopqrstuvwxyzabcdefghij\nHF_ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ\n",
        "sk-proj-settings-page-for-the-organisation-admins\n",
        "github_pat_ tokens are created under Settings > Developer settings.\n",
        "github_pat_<22 characters>_<59 characters>\n",
        "The Hugging Face token (hf_…) and a GitHub token (github_pat_…) go in the vault.\n",
    ],
)
def test_names_and_prose_with_a_token_prefix_hold_none(text: str) -> None:
    assert find_credentials(text) == []


def test_a_file_holding_a_fine_grained_github_token_is_not_ingested(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ci.md").write_text(f"# CI\nThe bot pushes with {GITHUB_PAT} to the mirror.\n")
    (docs / "hub.md").write_text(f"# Hub\nUpload with `huggingface-cli login --token {HF_LETTERS}`.\n")
    (docs / "tips.md").write_text("# Tips\nThe mirror is pushed nightly.\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    report = store.add([docs])
    skipped = {Path(item["source"]).name: item["reason"] for item in report.as_dict()["unsupported"]}
    assert skipped == {"ci.md": "holds a credential", "hub.md": "holds a credential"}
    hits = store.search("bot pushes mirror token huggingface login", k=5)
    assert not any(GITHUB_PAT in hit.text or HF_LETTERS in hit.text for hit in hits)


def test_memory_redacts_a_fine_grained_github_token_and_a_letters_only_hf_token() -> None:
    trace = ExperimentTrace(
        "r1", "1", "t", "buggy", parent_id="0",
        error_text=f"remote: Invalid username or token {GITHUB_PAT}\nHF {HF_LETTERS} rejected",
        idea=f"Push with {GITHUB_PAT}.",
    )  # fmt: skip
    clean = redacted(trace)
    texts = f"{clean.error_text}\n{clean.idea}"
    assert GITHUB_PAT not in texts and HF_LETTERS not in texts and CREDENTIAL in clean.idea
