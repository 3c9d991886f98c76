"""Optional semantic ranking: any embedding function, cosine similarity, scores rescaled for linear fusion.

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

__all__ = ["EmbeddingRanker", "rescaled"]

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


def rescaled(scores: Sequence[float], candidates: Sequence[int], depth: int) -> dict[int, float]:
    """The ``depth`` best candidates' scores mapped linearly onto (0, 1]: the best scores 1, the ``depth``-th best
    (the floor) and anything below it are dropped. Tools tied for the best all score 1, even past ``depth``, so an
    embedder that scores everything alike shifts every candidate equally and favours no tool."""
    if not candidates:
        return {}
    ordered = sorted((scores[i] for i in candidates), reverse=True)
    top, floor = ordered[0], ordered[min(depth, len(ordered)) - 1]
    if top <= floor:
        return {i: 1.0 for i in candidates if scores[i] >= top}
    if len(ordered) <= depth:  # fewer candidates than the depth: the floor sits a step below the worst
        floor -= (top - floor) / len(ordered)
    return {i: (scores[i] - floor) / (top - floor) for i in candidates if scores[i] > floor}
