"""Which judged pairs become training examples, and why the others do not.

One vote per annotator and pair: their latest judgment in force, for a response (whatever side
it was shown on), for "tie" or for "both_bad". Undone and superseded judgments are never votes.

- `majority` (default): the verdict with strictly more votes than any other wins; a split top
  is skipped as `annotators_disagree`.
- `unanimous`: every vote must agree, otherwise `annotators_disagree`.
- `min_agreement`: the winner's share of the votes must reach it, otherwise `below_min_agreement`.
- A winning "tie" is dropped (`tie`). A winning "both_bad" is dropped (`both_bad`), or with
  `both_bad="kto"` kept as two negatives for KTO.

    >>> aggregate(("r1", "r1", "r2"), SelectionPolicy())
    ('r1', None)
    >>> aggregate(("r1", "r2"), SelectionPolicy())
    (None, 'annotators_disagree')
    >>> aggregate(("r1", "r1", "r2"), SelectionPolicy(aggregate="unanimous"))
    (None, 'annotators_disagree')
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

from exports.options import (  # noqa: F401  (re-exported: where readers look for them)
    AGGREGATIONS,
    BOTH_BAD_POLICIES,
    PAIR_MODES,
    TIE_POLICIES,
    SelectionPolicy,
)
from labeling.models import Message, Role, messages_from_json
from store.judgments import PairBallot

SKIP_REASONS = ("tie", "both_bad", "annotators_disagree", "below_min_agreement", "undone")


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
    margin: float | None = None  # the mean strength the winning votes gave, when they all gave one

    @property
    def agreement(self) -> float:
        return self.votes_for / self.votes if self.votes else 0.0


@dataclass(frozen=True)
class Target:
    """One good answer to a prompt: an SFT target, or an eval set's reference.

    `source` says where it came from. Today: `preference` (the chosen answer that won most
    often); vibe-check passes and expert rewrites add targets of their own through the same type.
    """

    item_id: str
    group_key: str
    prompt: tuple[Message, ...]
    answer: str
    response_id: str
    source: str
    agreement: float
    worse: str = ""  # an answer the experts liked less, where one is known (for rubric graders)


@dataclass(frozen=True)
class LabelledResponse:
    """One response with an absolute label, for KTO: desirable (True) or not (False)."""

    item_id: str
    group_key: str
    prompt: tuple[Message, ...]
    response_id: str
    completion: str
    label: bool


# An export selects on ids and votes only; the texts of what it keeps are read per batch, when its
# records are built (exports/run.py). The types below are what it selects: each names the rows
# its texts are in and turns into the type a record builder takes once they are read.
Texts = Mapping[int, str]  # response rowid -> content


class Decided(NamedTuple):
    """A decided pair, before its texts are read: with_texts makes it a PreferenceExample."""

    pair_id: str
    item_id: str
    group_key: str
    chosen_id: str
    rejected_id: str
    votes_for: int
    votes: int
    margin: float | None
    item_row: int
    chosen_row: int
    rejected_row: int

    @property
    def agreement(self) -> float:
        return self.votes_for / self.votes if self.votes else 0.0

    @property
    def origin(self) -> str:  # what a record came from, named when a check fails
        return self.pair_id

    def response_rows(self) -> tuple[int, ...]:
        return (self.chosen_row, self.rejected_row)

    def with_texts(self, prompt: tuple[Message, ...], texts: Texts) -> PreferenceExample:
        return PreferenceExample(
            self.pair_id,
            self.item_id,
            self.group_key,
            prompt,
            texts[self.chosen_row],
            texts[self.rejected_row],
            self.chosen_id,
            self.rejected_id,
            self.votes_for,
            self.votes,
            self.margin,
        )


class TargetRef(NamedTuple):
    """A Target before its texts are read."""

    item_id: str
    group_key: str
    item_row: int
    response_id: str
    answer_row: int
    source: str
    agreement: float
    worse_row: int | None

    @property
    def origin(self) -> str:
        return self.response_id

    def response_rows(self) -> tuple[int, ...]:
        return (self.answer_row,) if self.worse_row is None else (self.answer_row, self.worse_row)

    def with_texts(self, prompt: tuple[Message, ...], texts: Texts) -> Target:
        worse = "" if self.worse_row is None else texts[self.worse_row]
        return Target(
            self.item_id,
            self.group_key,
            prompt,
            texts[self.answer_row],
            self.response_id,
            self.source,
            self.agreement,
            worse,
        )


class LabelRef(NamedTuple):
    """A LabelledResponse before its texts are read."""

    item_id: str
    group_key: str
    item_row: int
    response_id: str
    completion_row: int
    label: bool

    @property
    def origin(self) -> str:
        return self.response_id

    def response_rows(self) -> tuple[int, ...]:
        return (self.completion_row,)

    def with_texts(self, prompt: tuple[Message, ...], texts: Texts) -> LabelledResponse:
        return LabelledResponse(
            self.item_id, self.group_key, prompt, self.response_id, texts[self.completion_row], self.label
        )


@dataclass
class Selection:
    examples: list[Decided] = field(default_factory=list)
    both_bad: list[LabelRef] = field(default_factory=list)  # kept only with both_bad="kto"
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    pairs_judged: int = 0
    several_votes: list[tuple[str, ...]] = field(default_factory=list)  # for agreement_figures


def agreement_figures(votes: Iterable[tuple[str, ...]]) -> dict[str, float | int]:
    """How much annotators agreed on the pairs that more than one of them judged: the share of
    such pairs with one verdict only, and the mean share of votes the top verdict got."""
    multi = [pair_votes for pair_votes in votes if len(pair_votes) > 1]
    if not multi:
        return {"pairs_with_several_votes": 0}
    top_shares = [Counter(votes).most_common(1)[0][1] / len(votes) for votes in multi]
    return {
        "pairs_with_several_votes": len(multi),
        "unanimous_share": round(sum(share == 1.0 for share in top_shares) / len(multi), 4),
        "mean_top_verdict_share": round(sum(top_shares) / len(multi), 4),
    }


def aggregate(votes: tuple[str, ...], policy: SelectionPolicy) -> tuple[str | None, str | None]:
    """(the winning vote, None) or (None, the reason the pair is skipped)."""
    if len(votes) == 1:  # the common case: one annotator, whose vote is the whole agreement
        return votes[0], None
    ranked = Counter(votes).most_common()
    winner, count = ranked[0]
    if policy.aggregate == "unanimous" and len(ranked) > 1:
        return None, "annotators_disagree"
    if len(ranked) > 1 and count == ranked[1][1]:
        return None, "annotators_disagree"
    if count / len(votes) < policy.min_agreement:
        return None, "below_min_agreement"
    return winner, None


_ROLES = {role.value: role for role in Role}


def parse_prompt(prompt_json: str) -> tuple[Message, ...]:
    """messages_from_json, with a shortcut for plain turns (role and content only): most turns
    are, and exports parse 10^5-10^6 prompts."""
    data = orjson.loads(prompt_json)
    try:
        return tuple(
            [Message(_ROLES[m["role"]], m["content"]) if len(m) == 2 else Message.from_dict(m) for m in data]
        )
    except (KeyError, TypeError):  # not a plain turn after all: the full parser words the error
        return messages_from_json(prompt_json)


def select_preferences(
    pairs: Iterable[PairBallot], pairs_all_undone: int, policy: SelectionPolicy
) -> Selection:
    """Aggregate each pair's votes: the decided pairs (ids only), and why the others are skipped."""
    selection = Selection()
    selection.skipped["undone"] = pairs_all_undone
    examples, skipped, several = selection.examples, selection.skipped, selection.several_votes
    append = examples.append
    for pair in pairs:
        votes = pair.votes
        if len(votes) == 1 and votes[0] not in ("tie", "both_bad"):
            # The common case, decided without aggregate/_margin: one annotator's preference,
            # with their strength as its margin (what the general path below gives it).
            strength = pair.strengths[0]
            margin = None if strength is None else float(strength)
            if votes[0] == pair.response_a_id:
                append(
                    Decided(
                        pair.pair_id, pair.item_id, pair.group_key, pair.response_a_id, pair.response_b_id,
                        1, 1, margin, pair.item_row, pair.response_a_row, pair.response_b_row,
                    )
                )  # fmt: skip
            else:
                append(
                    Decided(
                        pair.pair_id, pair.item_id, pair.group_key, pair.response_b_id, pair.response_a_id,
                        1, 1, margin, pair.item_row, pair.response_b_row, pair.response_a_row,
                    )
                )  # fmt: skip
            continue
        if len(votes) > 1:
            several.append(votes)
        winner, reason = aggregate(votes, policy)
        if winner == "tie":
            reason = "tie"
        elif winner == "both_bad":
            reason = "both_bad"
            if policy.both_bad == "kto":
                selection.both_bad.extend(
                    LabelRef(pair.item_id, pair.group_key, pair.item_row, rid, row, False)
                    for rid, row in (
                        (pair.response_a_id, pair.response_a_row),
                        (pair.response_b_id, pair.response_b_row),
                    )
                )
        if reason is not None:
            skipped[reason] += 1
            continue
        a_wins = winner == pair.response_a_id
        examples.append(
            Decided(
                pair.pair_id,
                pair.item_id,
                pair.group_key,
                pair.response_a_id if a_wins else pair.response_b_id,
                pair.response_b_id if a_wins else pair.response_a_id,
                votes.count(winner or "") if len(votes) > 1 else 1,
                len(votes),
                _margin(pair, winner or ""),
                pair.item_row,
                pair.response_a_row if a_wins else pair.response_b_row,
                pair.response_b_row if a_wins else pair.response_a_row,
            )
        )
    selection.pairs_judged = len(examples) + sum(n for reason, n in skipped.items() if reason != "undone")
    return selection


def _margin(pair: PairBallot, winner: str) -> float | None:
    if len(pair.votes) == 1 and pair.strengths:  # one annotator: their strength, if they gave one
        strength = pair.strengths[0]
        return None if strength is None else float(strength)
    given = [s for vote, s in zip(pair.votes, pair.strengths, strict=False) if vote == winner]
    if not given or any(s is None for s in given):
        return None
    return sum(s for s in given if s is not None) / len(given)


def best_per_item(examples: Iterable[Decided]) -> list[Decided]:
    """For SFT: per item, the chosen response that won most often (ties: the higher agreement,
    then the first judged). One training target per prompt."""
    examples = list(examples)
    wins: dict[str, Counter[str]] = defaultdict(Counter)
    best: dict[str, Decided] = {}
    for example in examples:
        wins[example.item_id][example.chosen_id] += 1
    for example in examples:
        current = best.get(example.item_id)
        key = (wins[example.item_id][example.chosen_id], example.agreement)
        if current is None or key > (wins[example.item_id][current.chosen_id], current.agreement):
            best[example.item_id] = example
    return list(best.values())


def preferred_targets(examples: Iterable[Decided]) -> list[TargetRef]:
    """Targets from pairwise judgments: per prompt, the chosen answer that won most often."""
    return [
        TargetRef(
            e.item_id,
            e.group_key,
            e.item_row,
            e.chosen_id,
            e.chosen_row,
            "preference",
            e.agreement,
            e.rejected_row,
        )
        for e in best_per_item(examples)
    ]


def labelled_responses(selection: Selection) -> tuple[list[LabelRef], int]:
    """For KTO: chosen responses desirable, rejected ones not, both-bad ones not (if kept).
    A response labelled both ways by different pairs is dropped; returns (labels, conflicts)."""
    labels: dict[str, LabelRef] = {}
    conflicting: set[str] = set()

    def add(candidate: LabelRef) -> None:
        seen = labels.get(candidate.response_id)
        if seen is not None and seen.label != candidate.label:
            conflicting.add(candidate.response_id)
        labels.setdefault(candidate.response_id, candidate)

    for e in selection.examples:
        add(LabelRef(e.item_id, e.group_key, e.item_row, e.chosen_id, e.chosen_row, True))
        add(LabelRef(e.item_id, e.group_key, e.item_row, e.rejected_id, e.rejected_row, False))
    for negative in selection.both_bad:
        add(negative)
    kept = [label for rid, label in labels.items() if rid not in conflicting]
    return kept, len(conflicting)


def ranked_pairs(examples: list[Decided], mode: str) -> list[Decided]:
    """Pairs from each prompt's ranking, for prompts with three or more responses.

    `all` keeps every decided pair. Otherwise responses are ranked by Copeland score (decided
    wins minus losses within the prompt); `best-worst` keeps one pair, the top over the bottom,
    and `adjacent` one pair per neighbouring ranks; responses with equal scores are not paired.
    A derived pair may not have been judged head to head: its pair_id says `ranked:`.

        >>> row = {"A": 1, "B": 2, "C": 3}
        >>> won = [Decided(f"p{n}", "i", "g", w, l, 1, 1, None, 0, row[w], row[l])
        ...        for n, (w, l) in enumerate([("A", "B"), ("B", "C"), ("A", "C")])]
        >>> [(e.chosen_id, e.rejected_id) for e in ranked_pairs(won, "best-worst")]
        [('A', 'C')]
        >>> [(e.chosen_id, e.rejected_id) for e in ranked_pairs(won, "adjacent")]
        [('A', 'B'), ('B', 'C')]
    """
    if mode == "all":
        return examples
    by_item: dict[str, list[Decided]] = defaultdict(list)
    for example in examples:
        by_item[example.item_id].append(example)
    result: list[Decided] = []
    for item_examples in by_item.values():
        score: Counter[str] = Counter()
        row: dict[str, int] = {}
        for e in item_examples:
            score[e.chosen_id] += 1
            score[e.rejected_id] -= 1
            row[e.chosen_id], row[e.rejected_id] = e.chosen_row, e.rejected_row
        ranking = sorted(score, key=lambda rid: (-score[rid], rid))
        if len(ranking) <= 2:
            result.extend(item_examples)
            continue
        steps = (
            [(ranking[0], ranking[-1])]
            if mode == "best-worst"
            else list(zip(ranking, ranking[1:], strict=False))
        )
        first = item_examples[0]
        votes = sum(e.votes for e in item_examples)
        votes_for = sum(e.votes_for for e in item_examples)
        for better, worse in steps:
            if score[better] > score[worse]:
                result.append(
                    Decided(
                        f"ranked:{better}>{worse}",
                        first.item_id,
                        first.group_key,
                        better,
                        worse,
                        votes_for,
                        votes,
                        None,
                        first.item_row,
                        row[better],
                        row[worse],
                    )
                )
    return result
