"""Retrieval benchmark for the knowledge store: quality and speed, measured in one run.

Quality: a labelled set (benchmarks/data/retrieval_queries.yaml, 58 queries: paraphrases,
identifiers, error messages) over a corpus of 24 Python standard-library modules read from
the running interpreter (offline, stable for a Python version). Reports recall@5 for dense
retrieval alone, BM25 alone, the fused ranking the product uses (convex combination, see
knowledge/fusion.py) and reciprocal rank fusion for reference. The fusion weight was chosen
on this same set, so `quality_small` is optimistic for it; `quality_scale` (the same queries
among ~20k chunks of distractors) is the less flattering check.

Speed: ingestion in chunks/s (chunking + embedding + Chroma + BM25 rebuild, end to end) next
to the raw embedding rate of the same texts measured in the same run (the baseline: the model
is the bottleneck), and search latency (query embedding + Chroma + BM25 + fusion + fetch;
p50/p95) on a store of ≥ `--scale` chunks built from the whole standard library. The load
average and the CPU share the process got are printed, because the machine is shared.

    nice -n 10 .venv/bin/python -m benchmarks.retrieval            # full: ~20k chunks
    nice -n 10 .venv/bin/python -m benchmarks.retrieval --scale 0  # quality + small ingest only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from knowledge.chunkers import chunk_file
from knowledge.embedder import MiniLMEmbedder
from knowledge.fusion import reciprocal_rank_fusion
from knowledge.store import KnowledgeStore

DATA = Path(__file__).parent / "data" / "retrieval_queries.yaml"
SKIP_PARTS = {"test", "tests", "idlelib", "site-packages", "lib2to3", "__pycache__", "turtledemo"}


@dataclass(frozen=True)
class LabelledQuery:
    text: str
    expect: frozenset[str]


def stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def load_queries(path: Path = DATA) -> tuple[list[str], list[LabelledQuery]]:
    data = yaml.safe_load(path.read_text())
    return data["modules"], [LabelledQuery(q["q"], frozenset(q["expect"])) for q in data["queries"]]


def copy_modules(dest: Path, modules: list[str]) -> Path:
    dest.mkdir(parents=True)
    for name in modules:
        shutil.copy2(stdlib() / f"{name}.py", dest / f"{name}.py")
    return dest


def copy_scale_corpus(dest: Path, first: list[str], target_chunks: int) -> int:
    """Copy stdlib files (the labelled modules first) until they hold ≥ target_chunks chunks."""
    root = stdlib()
    files = [root / f"{m}.py" for m in first]
    files += [
        p
        for p in sorted(root.rglob("*.py"))
        if p not in files and not SKIP_PARTS & set(p.relative_to(root).parts)
    ]
    total = 0
    for path in files:
        if total >= target_chunks:
            break
        try:
            total += len(chunk_file(path, path.read_bytes()))
        except ValueError:
            continue
        target = dest / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return total


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raw_embed_rate(embedder: MiniLMEmbedder, folder: Path, n: int = 512) -> float:
    texts = []
    for path in sorted(folder.rglob("*.py")):
        texts += [c.embedding_text() for c in chunk_file(path, path.read_bytes())]
    texts = texts[:n]
    started = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - started)


def ingest(
    store_dir: Path, folder: Path, embedder: MiniLMEmbedder
) -> tuple[KnowledgeStore, dict[str, float]]:
    store = KnowledgeStore.open(store_dir, embedder=embedder)
    load_before, cpu_before, wall = os.getloadavg()[0], cpu_seconds(), time.perf_counter()
    report = store.add([folder])
    wall = time.perf_counter() - wall
    return store, {
        "chunks": report.chunks_embedded,
        "seconds": round(wall, 2),
        "chunks_per_s": round(report.chunks_embedded / wall, 1),
        "cpu_share": round((cpu_seconds() - cpu_before) / wall / (os.cpu_count() or 1), 2),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def recall_at_5(store: KnowledgeStore, queries: list[LabelledQuery]) -> dict[str, object]:
    found = {"dense": 0, "bm25": 0, "fused": 0, "rrf_reference": 0}
    misses: dict[str, list[str]] = {name: [] for name in found}
    for query in queries:
        dense, lexical = store.search_dense(query.text, 30), store.search_lexical(query.text, 30)
        rrf = [i for i, _ in reciprocal_rank_fusion([dense, lexical])[:5]]
        ranked = {
            "dense": store.hits_for(dense[:5]),
            "bm25": store.hits_for(lexical[:5]),
            "fused": store.search(query.text, k=5),
            "rrf_reference": store.hits_for(rrf),
        }
        for name, hits in ranked.items():
            if any(hit.title in query.expect for hit in hits[:5]):
                found[name] += 1
            else:
                misses[name].append(query.text)
    n = len(queries)
    return {f"recall@5_{name}": round(count / n, 3) for name, count in found.items()} | {"misses": misses}


def latency_ms(store: KnowledgeStore, queries: list[LabelledQuery], rounds: int = 4) -> dict[str, float]:
    for query in queries[:5]:
        store.search(query.text)
    samples = []
    for _ in range(rounds):
        for query in queries:
            started = time.perf_counter()
            store.search(query.text, k=5)
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "searches": len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 1),
        "max_ms": round(samples[-1], 1),
        "load": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=20_000, help="chunks in the speed store (0: skip)")
    parser.add_argument(
        "--max-tokens", type=int, default=MiniLMEmbedder().max_tokens, help="dense head length"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    embedder = MiniLMEmbedder(max_tokens=args.max_tokens)
    started = time.perf_counter()
    embedder.embed(["load the model"])
    results: dict[str, object] = {
        "embedder": embedder.name,
        "model_load_s": round(time.perf_counter() - started, 2),
        "cpus": os.cpu_count(),
    }
    modules, queries = load_queries()
    with tempfile.TemporaryDirectory(prefix="strop-retrieval-") as tmp:
        corpus = copy_modules(Path(tmp) / "corpus", modules)
        results["raw_embed_per_s"] = round(raw_embed_rate(embedder, corpus), 1)
        store, ingest_small = ingest(Path(tmp) / "store-small", corpus, embedder)
        results["ingest_small"] = ingest_small | {
            "vs_raw_embed": round(ingest_small["chunks_per_s"] / results["raw_embed_per_s"], 2)  # type: ignore[operator]
        }
        results["quality_small"] = recall_at_5(store, queries) | {"queries": len(queries)}
        results["latency_small"] = latency_ms(store, queries, rounds=2)
        store.close()
        if args.scale:
            scale_dir = Path(tmp) / "scale"
            copy_scale_corpus(scale_dir, modules, args.scale)
            results["raw_embed_per_s_before_scale"] = round(raw_embed_rate(embedder, scale_dir), 1)
            big, ingest_big = ingest(Path(tmp) / "store-scale", scale_dir, embedder)
            results["ingest_scale"] = ingest_big
            results["quality_scale"] = recall_at_5(big, queries)
            results["latency_scale"] = latency_ms(big, queries)
            big.close()
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
