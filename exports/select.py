"""Which judged pairs become preference examples, and why the others do not.

Aggregation across annotators (majority): each annotator's judgment in force on a pair is one
vote, for a response, for "tie" or for "both_bad". The verdict with strictly more votes than any
other wins; if two verdicts share the top count the pair is skipped as `annotators_disagree`.
A winning "tie" or "both_bad" is skipped with that reason. Undone and superseded judgments are
never votes; a pair whose every judgment was undone is counted as `undone`.

    >>> aggregate(("r1", "r1", "r2"))
    ('r1', None)
    >>> aggregate(("r1", "r2"))
    (None, 'annotators_disagree')
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from labeling.models import Message, messages_from_json
from store.judgments import PairVotes

SKIP_REASONS = ("tie", "both_bad", "annotators_disagree", "undone")
AGGREGATION_RULE = (
    "majority: one vote per annotator (their latest judgment in force); the verdict with strictly "
    "more votes than any other wins; a split top is skipped as annotators_disagree; a winning tie "
    "or both_bad is skipped; undone and superseded judgments are not votes"
)


@dataclass(frozen=True)
class PreferenceExample:
    pair_id: str
    item_id: str
    group_key: str
    prompt: tuple[Message, ...]
    chosen: str
    rejected: str
    chosen_id: str
    rejected_id: str
    votes_for: int
    votes: int


@dataclass
class Selection:
    examples: list[PreferenceExample] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))


def aggregate(votes: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(winning response id, None) or (None, skip reason) for one pair's votes."""
    ranked = Counter(votes).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None, "annotators_disagree"
    winner = ranked[0][0]
    if winner in ("tie", "both_bad"):
        return None, winner
    return winner, None


def select_preferences(pairs: Iterable[PairVotes], pairs_all_undone: int) -> Selection:
    selection = Selection()
    selection.skipped["undone"] = pairs_all_undone
    for pair in pairs:
        winner, reason = aggregate(pair.votes)
        if reason is not None:
            selection.skipped[reason] += 1
            continue
        a_wins = winner == pair.response_a_id
        selection.examples.append(
            PreferenceExample(
                pair_id=pair.pair_id,
                item_id=pair.item_id,
                group_key=pair.group_key,
                prompt=messages_from_json(pair.prompt_json),
                chosen=pair.response_a if a_wins else pair.response_b,
                rejected=pair.response_b if a_wins else pair.response_a,
                chosen_id=pair.response_a_id if a_wins else pair.response_b_id,
                rejected_id=pair.response_b_id if a_wins else pair.response_a_id,
                votes_for=pair.votes.count(winner or ""),
                votes=len(pair.votes),
            )
        )
    return selection


def canonical_json(record: object) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))
