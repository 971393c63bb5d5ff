"""Token counts for `--max-tokens`: OpenAI's o200k_base through tiktoken by default, or a local
Hugging Face tokenizer (`--tokenizer DIR` holding tokenizer.json, or the file itself).

A record's length is counted the way the OpenAI cookbook estimates chat examples: each message's
content plus 4 tokens of message framing, plus 3 for the reply's start. For a preference record
the longer of the two answers counts (a trainer sees prompt + chosen and prompt + rejected
apart). It is an estimate: the exact figure depends on the model's chat template.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from labeling.errors import ExportError

MESSAGE_OVERHEAD = 4
REPLY_OVERHEAD = 3


@dataclass(frozen=True)
class TokenCounter:
    name: str
    count: Callable[[str], int]

    def record(self, prompt: Iterable[str], answers: Iterable[str]) -> int:
        prompt_tokens = sum(self.count(text) + MESSAGE_OVERHEAD for text in prompt)
        return (
            prompt_tokens
            + max((self.count(a) + MESSAGE_OVERHEAD for a in answers), default=0)
            + REPLY_OVERHEAD
        )


def tiktoken_counter(encoding: str = "o200k_base") -> TokenCounter:
    import tiktoken  # imported only when token limits are asked for

    try:
        encoder = tiktoken.get_encoding(encoding)
    except Exception as exc:  # tiktoken downloads its vocabulary on first use; offline it cannot
        raise ExportError(
            f"tiktoken could not load the {encoding} vocabulary ({type(exc).__name__}): it is downloaded on "
            "first use and cached (TIKTOKEN_CACHE_DIR). Offline, pass --tokenizer DIR with a local "
            "tokenizer.json instead."
        ) from exc
    return TokenCounter(f"tiktoken {encoding}", lambda text: len(encoder.encode(text, disallowed_special=())))


def local_counter(path: Path) -> TokenCounter:
    from tokenizers import Tokenizer

    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise ExportError(f"no tokenizer.json at {path}")
    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as exc:  # the tokenizers library raises its own exception types
        raise ExportError(f"{file} is not a tokenizer file the tokenizers library can read: {exc}") from exc
    return TokenCounter(str(file), lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids))
