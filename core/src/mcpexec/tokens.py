"""Counting the tokens that reach the model, with a real tokenizer when one is installed.

In order: ``tiktoken`` (``o200k_base``, when its encoding file is available offline), ``bpe-openai`` (bundles
``o200k_base``; byte-identical ids), else an estimate of one token per four characters. :func:`tokenizer_name`
says which one is counting, so figures are never passed off as exact when they are not.
"""

from __future__ import annotations

import functools
import importlib
import math
import warnings
from collections.abc import Callable

__all__ = ["count_tokens", "tokenizer_name"]

_CHUNK = 8_000  # bpe-openai refuses very long inputs: count long texts piecewise, split at line ends


def _load(module: str) -> Callable[[str], int] | None:
    try:
        with warnings.catch_warnings():  # bpe-openai 0.1 loads its data with a deprecated importlib API
            warnings.simplefilter("ignore", DeprecationWarning)
            encoding = importlib.import_module(module).get_encoding("o200k_base")
            encoding.encode("probe")
    except Exception:  # not installed, or no encoding file offline
        return None
    return lambda text: len(encoding.encode(text, disallowed_special=()))


@functools.cache
def _counter() -> tuple[str, Callable[[str], int]]:
    for module in ("tiktoken", "bpe_openai"):
        if (count := _load(module)) is not None:
            return f"{module.replace('_', '-')} o200k_base", count
    return "estimate (4 characters per token; install bpe-openai or tiktoken for exact counts)", (
        lambda text: math.ceil(len(text) / 4)
    )


def _pieces(text: str) -> list[str]:
    pieces: list[str] = []
    while len(text) > _CHUNK:
        cut = text.rfind("\n", 0, _CHUNK) + 1 or max(text.rfind(" ", 1, _CHUNK), 0) or _CHUNK
        pieces.append(text[:cut])
        text = text[cut:]
    pieces.append(text)
    return pieces


def count_tokens(text: str) -> int:
    """Tokens in ``text`` (see :func:`tokenizer_name` for how they are counted)."""
    if not text:
        return 0
    _name, count = _counter()
    return sum(count(piece) for piece in _pieces(text))


def tokenizer_name() -> str:
    """Which tokenizer :func:`count_tokens` uses."""
    return _counter()[0]
