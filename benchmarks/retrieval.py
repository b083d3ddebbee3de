"""Retrieval benchmark for the knowledge store: quality on two corpora, and speed, measured in one run.

Quality, two corpora of different kinds, each with labelled queries:
- `stdlib`: Python source (benchmarks/data/retrieval_queries.yaml, 58 queries: paraphrases,
  identifiers, error messages) over 24 standard-library modules read from the running
  interpreter (offline, stable for a Python version);
- `click-docs`: reStructuredText documentation (Click 8.1.8's docs/*.rst from its PyPI
  sdist, copied into benchmarks/data/click-docs with its licence), 58 queries written as a
  user's questions (benchmarks/data/click_queries.yaml).
Each query set is split in two fixed halves: even positions in the file are the tuning half,
odd positions the held-out half. Recall@5 is reported on both halves for dense retrieval
alone, BM25 alone, the fused ranking the product uses (convex combination at the product's
`knowledge.fusion.ALPHA`, through `KnowledgeStore.search` itself), the convex combination at
the weight chosen here, and reciprocal rank fusion for reference.

Tuned on / held out: the fusion weight is chosen on the tuning halves only (both corpora
pooled: the α in 0, 0.05, …, 1 with the best mean tuning recall@5; among ties the middle one)
and reported on the held-out halves, beside the product's ALPHA. Measured 2026-12-01 (load ~11
on 2 CPUs; recall does not depend on load): tuning chose α = 0.45; held-out fused recall@5 was
0.897 (stdlib) and 0.897 (click-docs) at 0.45 against 0.931 and 0.931 at the product's 0.65,
one query of 29 each way: a tie, so the product keeps 0.65. The product's ALPHA was first picked on
the whole stdlib set (before this split), so its stdlib held-out figure is not clean; the
click-docs queries were written after it and never used to choose it. Per half, the script
also prints how many queries share ≥ 80% of their content words with their target chunk
(near-copies of the text, easy for BM25).

Speed: ingestion in chunks/s (chunking + embedding + Chroma + BM25 rebuild, end to end) next
to the raw embedding rate of the same texts measured in the same run (the baseline: the model
is the bottleneck), and search latency (query embedding + Chroma + BM25 + fusion + fetch;
p50/p95) on a store of ≥ `--scale` chunks built from the whole standard library. The load
average and the CPU share the process got are printed, because the machine is shared.

    nice -n 10 .venv/bin/python -m benchmarks.retrieval            # full: ~20k chunks
    nice -n 10 .venv/bin/python -m benchmarks.retrieval --scale 0  # quality + small ingest only

Goals: fused recall@5 ≥ 0.9 on the held-out half of both corpora; p95 ≤ 50 ms at 20k chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
from knowledge.fusion import ALPHA, convex_fusion, reciprocal_rank_fusion
from knowledge.store import KnowledgeStore

DATA = Path(__file__).parent / "data" / "retrieval_queries.yaml"
CLICK_DOCS = Path(__file__).parent / "data" / "click-docs"
CLICK_QUERIES = Path(__file__).parent / "data" / "click_queries.yaml"
DEPTH = 30  # candidates per retriever, as KnowledgeStore.search
ALPHAS = [round(0.05 * i, 2) for i in range(21)]
STOPWORDS = set(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "that",
        "this",
        "what",
        "how",
        "does",
        "can",
        "into",
        "when",
        "are",
        "not",
        "its",
        "their",
        "them",
        "then",
        "than",
        "there",
        "which",
        "while",
        "was",
        "were",
        "will",
        "would",
        "should",
        "could",
        "have",
        "has",
        "had",
        "been",
        "being",
        "out",
        "use",
        "using",
        "via",
        "one",
        "all",
        "any",
        "more",
        "most",
        "each",
        "other",
        "like",
        "just",
        "only",
        "also",
        "make",
        "made",
        "get",
        "gets",
        "got",
        "give",
        "given",
    ]
)
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


def load_click_queries(path: Path = CLICK_QUERIES) -> list[LabelledQuery]:
    data = yaml.safe_load(path.read_text())
    return [LabelledQuery(q["q"], frozenset(q["expect"])) for q in data["queries"]]


def halves(queries: list[LabelledQuery]) -> dict[str, list[LabelledQuery]]:
    """The fixed split: even positions tune, odd positions are held out."""
    return {"tuning": queries[0::2], "held_out": queries[1::2]}


def chunk_texts(folder: Path) -> dict[str, str]:
    """Every chunk's text of a corpus folder, joined per title."""
    texts: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".rst", ".md"):
            for chunk in chunk_file(path, path.read_bytes()):
                texts[chunk.title] = texts.get(chunk.title, "") + "\n" + chunk.text
    return texts


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z0-9]+", text.lower()) if len(w) > 2 and w not in STOPWORDS}


def near_copies(queries: list[LabelledQuery], texts: dict[str, str], share: float = 0.8) -> int:
    """Queries sharing ≥ `share` of their content words with one of their target chunks."""
    count = 0
    for query in queries:
        words = content_words(query.text)
        best = max(len(words & content_words(texts.get(t, ""))) / max(1, len(words)) for t in query.expect)
        count += best >= share
    return count


def check_labels(name: str, queries: list[LabelledQuery], texts: dict[str, str]) -> None:
    """Every expected title must exist in the corpus, or a label typo would read as a miss."""
    unknown = sorted({t for q in queries for t in q.expect if t not in texts})
    if unknown:
        raise SystemExit(f"{name}: labelled titles not in the corpus: {unknown}")


@dataclass(frozen=True)
class Scored:
    """One query's candidates with both scores, as KnowledgeStore.search sees them, and their titles."""

    query: LabelledQuery
    candidates: list[str]
    dense: dict[str, float]
    lexical: dict[str, float]
    dense_top: list[str]
    lexical_top: list[str]
    titles: dict[str, str]
    product_top5: list[str]  # titles from KnowledgeStore.search itself

    def answered(self, ids: list[str]) -> bool:
        return any(self.titles.get(i) in self.query.expect for i in ids[:5])

    def fused(self, alpha: float) -> list[str]:
        return [i for i, _ in convex_fusion(self.candidates, self.dense, self.lexical, alpha)[:5]]


def score_queries(store: KnowledgeStore, queries: list[LabelledQuery]) -> list[Scored]:
    scored = []
    for query in queries:
        dense = store._dense_scores(query.text, DEPTH, None)
        lexical_all = store._lexical_index().scores(query.text, None)
        lexical_top = sorted(lexical_all, key=lambda i: -lexical_all[i])[:DEPTH]
        candidates = list(dict.fromkeys([*dense, *lexical_top]))
        dense_top = sorted(dense, key=lambda i: -dense[i])
        missing = [i for i in candidates if i not in dense]
        if missing:
            dense |= store._cosines(query.text, missing)
        titles = {hit.chunk_id: hit.title for hit in store.hits_for(candidates)}
        product = [hit.title for hit in store.search(query.text, k=5)]
        lexical = {i: lexical_all.get(i, 0.0) for i in candidates}
        scored.append(Scored(query, candidates, dense, lexical, dense_top, lexical_top, titles, product))
    return scored


def recall_table(scored: list[Scored], alpha: float) -> dict[str, float]:
    n = max(1, len(scored))
    rows = {
        "dense": sum(s.answered(s.dense_top) for s in scored),
        "bm25": sum(s.answered(s.lexical_top) for s in scored),
        f"fused_product(alpha={ALPHA})": sum(
            any(t in s.query.expect for t in s.product_top5) for s in scored
        ),
        f"fused_tuned(alpha={alpha})": sum(s.answered(s.fused(alpha)) for s in scored),
        "rrf_reference": sum(
            s.answered([i for i, _ in reciprocal_rank_fusion([s.dense_top, s.lexical_top])[:5]])
            for s in scored
        ),
    }
    return {name: round(count / n, 3) for name, count in rows.items()}


def choose_alpha(tuning: list[list[Scored]]) -> tuple[float, dict[float, float]]:
    """The α with the best mean tuning recall@5 over the corpora; the middle of the plateau on ties."""
    curve = {
        alpha: round(
            sum(sum(s.answered(s.fused(alpha)) for s in c) / len(c) for c in tuning) / len(tuning), 4
        )
        for alpha in ALPHAS
    }
    top = max(curve.values())
    plateau = [alpha for alpha in ALPHAS if curve[alpha] == top]
    return plateau[len(plateau) // 2], curve


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


def quality(
    corpora: dict[str, tuple[KnowledgeStore, list[LabelledQuery], dict[str, str]]],
) -> dict[str, object]:
    """Recall@5 per corpus and half; the fusion weight chosen on the tuning halves only."""
    scored = {
        name: {half: score_queries(store, qs) for half, qs in halves(queries).items()}
        for name, (store, queries, _) in corpora.items()
    }
    alpha, curve = choose_alpha([by_half["tuning"] for by_half in scored.values()])
    out: dict[str, object] = {"alpha_chosen_on_tuning_halves": alpha, "tuning_curve": curve}
    for name, by_half in scored.items():
        texts = corpora[name][2]
        for half, rows in by_half.items():
            mismatched = sum(
                [s.titles.get(i) for i in s.fused(ALPHA)] != s.product_top5[: len(s.fused(ALPHA))]
                for s in rows
            )
            out[f"{name}/{half}"] = recall_table(rows, alpha) | {
                "queries": len(rows),
                "near_copies(>=80% content words)": near_copies([s.query for s in rows], texts),
                "offline_fusion_mismatches": mismatched,
                "fused_product_misses": [
                    s.query.text for s in rows if not any(t in s.query.expect for t in s.product_top5)
                ],
            }
    return out


def print_quality(results: dict[str, object]) -> None:
    keys = [k for k in results if "/" in k]
    methods = [m for m, v in results[keys[0]].items() if isinstance(v, float)]  # type: ignore[union-attr]
    print("\n| corpus / half | queries | near-copies | " + " | ".join(methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for key in keys:
        row = results[key]
        cells = " | ".join(f"{row[m]:.3f}" for m in methods)  # type: ignore[index]
        print(f"| {key} | {row['queries']} | {row['near_copies(>=80% content words)']} | {cells} |")  # type: ignore[index]
    print(f"α chosen on the tuning halves: {results['alpha_chosen_on_tuning_halves']}")


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
    click_queries = load_click_queries()
    with tempfile.TemporaryDirectory(prefix="strop-retrieval-") as tmp:
        corpus = copy_modules(Path(tmp) / "corpus", modules)
        results["raw_embed_per_s"] = round(raw_embed_rate(embedder, corpus), 1)
        store, ingest_small = ingest(Path(tmp) / "store-small", corpus, embedder)
        results["ingest_small"] = ingest_small | {
            "vs_raw_embed": round(ingest_small["chunks_per_s"] / results["raw_embed_per_s"], 2)  # type: ignore[operator]
        }
        click_store, results["ingest_click_docs"] = ingest(Path(tmp) / "store-click", CLICK_DOCS, embedder)
        texts = {"stdlib": chunk_texts(corpus), "click-docs": chunk_texts(CLICK_DOCS)}
        check_labels("stdlib", queries, texts["stdlib"])
        check_labels("click-docs", click_queries, texts["click-docs"])
        results["quality_small"] = quality(
            {
                "stdlib": (store, queries, texts["stdlib"]),
                "click-docs": (click_store, click_queries, texts["click-docs"]),
            }
        )
        results["latency_small"] = latency_ms(store, queries, rounds=2)
        store.close()
        click_store.close()
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
    print_quality(results["quality_small"])  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
