"""Two writers at once neither corrupt the store nor hang; a busy store says so; broken stores say how to rebuild."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from knowledge.embedder import HashingEmbedder
from knowledge.errors import StoreBusy, StoreUnavailable
from knowledge.lock import writer_lock
from knowledge.store import KnowledgeStore

REPO = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import sys, json, time
    from pathlib import Path
    from knowledge.embedder import HashingEmbedder
    from knowledge.store import KnowledgeStore

    class SlowEmbedder(HashingEmbedder):  # widens each write so that the two writers overlap
        def embed(self, texts):
            time.sleep(0.3)
            return super().embed(texts)

    store_dir, folder, rounds = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    store = KnowledgeStore.open(store_dir, embedder=SlowEmbedder(), lock_timeout=60)
    while not (folder.parent / "go").exists():
        time.sleep(0.01)
    embedded = 0
    for r in range(rounds):
        for i in range(40):
            (folder / f"f{i}.md").write_text(f"# {folder.name} {i}\\nround {r} token{folder.name}{i} " * 20)
        embedded += store.add([folder]).chunks_embedded
        store.search(f"token{folder.name}3")
    print(json.dumps({"embedded": embedded}))
    """
)

READER = textwrap.dedent(
    """
    import sys, json, time
    from pathlib import Path
    from knowledge.embedder import HashingEmbedder
    from knowledge.store import KnowledgeStore
    store_dir, stop = sys.argv[1], Path(sys.argv[2])
    while not (Path(store_dir) / "manifest.json").exists():  # a store that does not exist is an error
        time.sleep(0.01)
    store = KnowledgeStore.open(store_dir, embedder=HashingEmbedder(), create=False)
    searches = 0
    while not stop.exists():
        store.search("tokenalpha3 round")
        store.list_sources()
        searches += 1
    print(json.dumps({"searches": searches}))
    """
)


def _writer(store: Path, folder: Path, rounds: int) -> subprocess.Popen[str]:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store), str(folder), str(rounds)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_writing_at_once_finish_and_leave_a_consistent_store(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    procs = [_writer(store_dir, tmp_path / name, 4) for name in ("alpha", "beta")]
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(store_dir), str(tmp_path / "stop")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    (tmp_path / "go").touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)  # a hang fails here
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["embedded"] for r in results] == [160, 160]
    (tmp_path / "stop").touch()
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err[-2000:]  # a reader during the writes never saw a broken store
    assert json.loads(out.strip().splitlines()[-1])["searches"] > 0
    store = KnowledgeStore.open(store_dir, embedder=HashingEmbedder())
    sources = store.list_sources()
    assert len(sources) == 80 and store.count() == 80
    for name in ("alpha", "beta"):
        [hit] = store.search(f"token{name}7", k=1)
        assert hit.source == str(tmp_path / name / "f7.md") and "round 3" in hit.text
    for hit in store.hits_for([i for s in sources for i in store.manifest().sources[s.source]["chunk_ids"]]):
        assert store.search_dense(hit.text, 1) == [hit.chunk_id]  # every vector made it into the index


def test_a_second_writer_waits_then_fails_clearly_instead_of_hanging(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing, lock_timeout=0.5)
    (tmp_path / "a.md").write_text("# A\ntext\n")
    with writer_lock(store.root):
        code = (
            "from knowledge.store import KnowledgeStore; from knowledge.embedder import HashingEmbedder\n"
            f"KnowledgeStore.open({str(store.root)!r}, embedder=HashingEmbedder(), lock_timeout=0.5)"
            f".add([{str(tmp_path / 'a.md')!r}])"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode != 0 and "StoreBusy: another process is writing" in proc.stderr
        with pytest.raises(StoreBusy, match="write.lock"):
            store.add([tmp_path / "a.md"])
    assert store.add([tmp_path / "a.md"]).added == 1  # the lock is free again


def test_missing_corrupt_and_foreign_stores_say_how_to_rebuild(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    with pytest.raises(StoreUnavailable, match="does not exist yet"):
        KnowledgeStore.open(tmp_path / "none", embedder=hashing, create=False)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\nthe quick brown fox\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    store.add([docs])
    with pytest.raises(StoreUnavailable, match="built with embedder 'hashing/256'.*strop knowledge rebuild"):
        KnowledgeStore.open(store.root, embedder=HashingEmbedder(dim=64))

    store.close()
    (store.root / "manifest.json").write_text('{"schema": 1, "embedder": ')
    with pytest.raises(StoreUnavailable, match="corrupt.*strop knowledge rebuild"):
        KnowledgeStore.open(store.root, embedder=hashing)
    report = KnowledgeStore.rebuild(store.root, embedder=hashing)
    assert report.added == 1
    assert KnowledgeStore.open(store.root, embedder=hashing).search("quick fox")[0].source == str(
        docs / "a.md"
    )
    assert list(tmp_path.glob("store.broken-*"))

    (store.root / "manifest.json").unlink()
    with pytest.raises(StoreUnavailable, match="lost its manifest"):
        KnowledgeStore.open(store.root, embedder=hashing)


def test_garbage_in_chroma_files_is_a_clear_error_not_a_traceback(
    tmp_path: Path, hashing: HashingEmbedder
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\nthe quick brown fox\n")
    store = KnowledgeStore.open(tmp_path / "store", embedder=hashing)
    store.add([docs])
    store.close()
    for path in (tmp_path / "store" / "chroma").rglob("*"):
        if path.is_file():
            path.write_bytes(b"garbage" * 100)
    code = (
        "from knowledge.store import KnowledgeStore; from knowledge.embedder import HashingEmbedder\n"
        "from knowledge.errors import StoreUnavailable\n"
        "try:\n"
        f"    KnowledgeStore.open({str(tmp_path / 'store')!r}, embedder=HashingEmbedder()).search('fox')\n"
        "except StoreUnavailable as e:\n    print('CLEAR:', e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "CLEAR:" in proc.stdout and "strop knowledge rebuild" in proc.stdout, proc.stderr[-2000:]
