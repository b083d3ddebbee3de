"""Benchmark: the knowledge store with fp32 MiniLM against the store with a quantized MiniLM.

The held-out pairs of docpairs.py (never seen by the quantization search) become one
text file per passage; each embedder builds its own store from them (Chroma + BM25, as
`strop knowledge add` does) and every held-out query is searched with `store.search`
(dense and BM25 fused, k = 5). A query is a hit when its own passage's file is among the 5.
Prints, per embedder: recall@5 of the store, the model's accounted size in bytes (size.py for
the quantized one; fp32 = 4 bytes per number), ingestion and query times, and the paired
difference in hits. The quantized embedder is the `embedder.json` a search wrote
(`strop evolve quant --model minilm --out DIR`, or the benchmark's --embedder-out).

Run:  nice -n 15 .venv/bin/python -m benchmarks.minilm_store --embedder PATH/embedder.json
      (benchmarks/data/minilm-b4-s0-embedder.json is the ≤ 4.0-bit config the benchmark chose,
      seed 0, RTN menu: measured at load 12.5, store recall@5 fp32 100.00% (128/128), quantized
      99.22% (127/128), 11.13 MB = 12.3% of fp32's 90.26 MB)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def store_recall(embedder: Any, folder: Path, pairs: list[Any], work: Path) -> dict[str, Any]:
    from knowledge import KnowledgeStore

    started = time.time()
    store = KnowledgeStore.open(work, embedder=embedder, create=True)
    store.add([folder])
    ingest = time.time() - started
    hits, latencies = [], []
    for pair in pairs:
        t0 = time.time()
        found = store.search(pair.query, k=5)
        latencies.append(time.time() - t0)
        hits.append(any(Path(h.source).name == f"{pair.key}.txt" for h in found))
    store.close()
    return {
        "recall_at_5": float(np.mean(hits)),
        "hits": hits,
        "ingest_seconds": round(ingest, 1),
        "query_ms_median": round(float(np.median(latencies)) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", type=Path, required=True, help="embedder.json of a quantized MiniLM")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from agent.domains.quantization.docpairs import pair_sets
    from agent.domains.quantization.embedder import QuantizedMiniLMEmbedder
    from agent.domains.quantization.minilm import load_minilm
    from knowledge import MiniLMEmbedder

    pairs = list(pair_sets().heldout)
    quantized = QuantizedMiniLMEmbedder(args.embedder)
    model = load_minilm()
    fp32_bytes = 4 * (sum(o * i for o, i in model.shapes()) + model.bias_count())
    print(f"load average {os.getloadavg()[0]:.1f}; {len(pairs)} held-out queries and passages", flush=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "passages"
        folder.mkdir()
        for pair in pairs:
            (folder / f"{pair.key}.txt").write_text(pair.passage + "\n")
        for name, embedder, size in (
            ("fp32", MiniLMEmbedder(max_tokens=32), fp32_bytes),
            ("quantized", quantized, float(quantized.data["bytes"])),
        ):
            results[name] = store_recall(embedder, folder, pairs, Path(tmp) / f"store-{name}")
            results[name]["bytes"] = size
            r = results[name]
            print(
                f"{name}: store recall@5 {r['recall_at_5'] * 100:.2f}% ({sum(r['hits'])}/{len(pairs)}), "
                f"model {size / 1e6:.2f} MB, ingest {r['ingest_seconds']} s, query median {r['query_ms_median']} ms",
                flush=True,
            )
    a, b = np.array(results["quantized"]["hits"]), np.array(results["fp32"]["hits"])
    print(
        f"quantized − fp32: {(a.mean() - b.mean()) * 100:+.2f} points "
        f"(queries only the quantized store finds {int((a & ~b).sum())}, only fp32 {int((b & ~a).sum())}); "
        f"size {results['quantized']['bytes'] / fp32_bytes * 100:.1f}% of fp32; load {os.getloadavg()[0]:.1f}"
    )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
