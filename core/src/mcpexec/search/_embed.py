"""Optional semantic ranking: any embedding function, cosine similarity, reciprocal rank fusion.

Accepted embedders (duck-typed, so neither framework is imported):

- a plain callable ``texts -> vectors`` (``Callable[[list[str]], Sequence[Sequence[float]]]``);
- a LangChain ``Embeddings`` (``embed_documents`` / ``embed_query``);
- a LlamaIndex embedding model (``get_text_embedding_batch`` / ``get_query_embedding``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mcpexec.errors import UsageError

__all__ = ["EmbeddingRanker", "rank_by_score", "reciprocal_rank_fusion"]

Vector = list[float]


def _normalize(vector: Sequence[float]) -> Vector:
    values = [float(x) for x in vector]
    norm = math.sqrt(sum(x * x for x in values)) or 1.0
    return [x / norm for x in values]


class _Adapter:
    def __init__(self, embedder: object) -> None:
        self._embedder: Any = embedder
        if hasattr(embedder, "embed_documents") and hasattr(embedder, "embed_query"):
            self.kind = "langchain"
        elif hasattr(embedder, "get_text_embedding_batch") and hasattr(embedder, "get_query_embedding"):
            self.kind = "llamaindex"
        elif callable(embedder):
            self.kind = "callable"
        else:
            raise UsageError(
                f"embedder must be a callable texts -> vectors, a LangChain Embeddings or a LlamaIndex embedding "
                f"model; got {type(embedder).__name__}"
            )

    def documents(self, texts: list[str]) -> list[Vector]:
        if self.kind == "langchain":
            vectors = self._embedder.embed_documents(texts)
        elif self.kind == "llamaindex":
            vectors = self._embedder.get_text_embedding_batch(texts)
        else:
            vectors = self._embedder(texts)
        result = [_normalize(v) for v in vectors]
        if len(result) != len(texts):
            raise UsageError(f"embedder returned {len(result)} vectors for {len(texts)} texts")
        return result

    def query(self, text: str) -> Vector:
        if self.kind == "langchain":
            return _normalize(self._embedder.embed_query(text))
        if self.kind == "llamaindex":
            return _normalize(self._embedder.get_query_embedding(text))
        return self.documents([text])[0]


class EmbeddingRanker:
    """Cosine ranking of documents by an embedder (vectors computed once, when the index is built)."""

    def __init__(self, embedder: object, texts: list[str]) -> None:
        self._adapter = _Adapter(embedder)
        self._vectors = self._adapter.documents(texts) if texts else []
        self._matrix: Any = None
        try:  # numpy, when present, makes a query over 1,000 tools a single matrix product
            import numpy

            if self._vectors:
                self._matrix = numpy.asarray(self._vectors, dtype=numpy.float32)
        except ImportError:
            self._matrix = None

    def scores(self, query: str) -> list[float]:
        """Cosine similarity of ``query`` to every document, in document order."""
        if not self._vectors:
            return []
        vector = self._adapter.query(query)
        if self._matrix is not None:
            import numpy

            product: Any = self._matrix @ numpy.asarray(vector, dtype=numpy.float32)
            return [float(x) for x in product]
        return [sum(a * b for a, b in zip(row, vector, strict=False)) for row in self._vectors]


def rank_by_score(scores: Sequence[float], candidates: Sequence[int], depth: int) -> list[tuple[int, int]]:
    """``(doc id, rank)`` of the ``depth`` best candidates; equal scores share a rank (competition ranking) and a
    tie at the cut-off is kept whole, so an uninformative embedder that scores everything alike favours no tool."""
    ordered = sorted(candidates, key=lambda i: (-scores[i], i))
    if len(ordered) > depth:
        floor = scores[ordered[depth - 1]]
        ordered = [i for i in ordered if scores[i] >= floor]
    ranked: list[tuple[int, int]] = []
    for position, doc_id in enumerate(ordered, start=1):
        if ranked and scores[doc_id] == scores[ranked[-1][0]]:
            ranked.append((doc_id, ranked[-1][1]))
        else:
            ranked.append((doc_id, position))
    return ranked


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[tuple[int, int]]], *, k: int = 60, weights: Sequence[float] = ()
) -> dict[int, float]:
    """Fuse rankings of ``(doc id, rank)`` pairs (ranks from 1): ``score = Σ weight / (k + rank)``."""
    fused: dict[int, float] = {}
    for index, ranking in enumerate(rankings):
        weight = weights[index] if index < len(weights) else 1.0
        for doc_id, rank in ranking:
            fused[doc_id] = fused.get(doc_id, 0.0) + weight / (k + rank)
    return fused
