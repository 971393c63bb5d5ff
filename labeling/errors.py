"""Errors the domain raises; each message is meant for the person who caused it.

PrefdeskError
├── ImportRejected        a file failed validation: nothing was stored (carries Problems)
├── JudgmentError
│   ├── StaleShowing          the submitted showing is not one given to this annotator, or not
│   │   │                     that pair and sides, or its pair is gone
│   │   └── PairFullyJudged   the pair has all the judgments the overlap asks for
│   ├── IdempotencyConflict   a client id was reused for a different judgment
│   ├── NothingToUndo         the annotator has no judgment left to undo
│   └── TooManyJudgments      over the annotator's rate limit (carries retry_after, seconds)
├── NoSuchUser / UserExists / BadUserInput
├── LastAdmin             the change would leave no enabled admin
├── ExportError           an export could not be written (nothing was left half-written)
└── NoSuchEvalSet         no eval set in the registry has that id (or the prefix is ambiguous)
"""

from __future__ import annotations

from dataclasses import dataclass


class PrefdeskError(Exception):
    """Base of the domain's errors."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, and where: `file:line: field: message`."""

    source: str
    line: int | None
    field: str | None
    message: str
    unit: str = "line"  # "row" for Parquet, "record" for a JSON array

    def __str__(self) -> str:
        if self.line is None:
            where = self.source
        elif self.unit == "line":
            where = f"{self.source}:{self.line}"
        else:
            where = f"{self.source} ({self.unit} {self.line})"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ImportRejected(PrefdeskError):
    def __init__(self, problems: list[Problem], more: int = 0) -> None:
        self.problems = problems
        lines = [str(p) for p in problems]
        if more:
            lines.append(f"... and {more} more problem(s)")
        lines.append("Nothing was imported.")
        super().__init__("\n".join(lines))


class JudgmentError(PrefdeskError):
    pass


class StaleShowing(JudgmentError):
    pass


class PairFullyJudged(StaleShowing):
    pass


class IdempotencyConflict(JudgmentError):
    pass


class TooManyJudgments(JudgmentError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NothingToUndo(JudgmentError):
    pass


class NoSuchUser(PrefdeskError):
    pass


class UserExists(PrefdeskError):
    pass


class BadUserInput(PrefdeskError):
    pass


class LastAdmin(PrefdeskError):
    pass


class ExportError(PrefdeskError):
    pass


class NoSuchEvalSet(PrefdeskError):
    pass
