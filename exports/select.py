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
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from exports.options import (  # noqa: F401  (re-exported: where readers look for them)
    AGGREGATIONS,
    BOTH_BAD_POLICIES,
    PAIR_MODES,
    TIE_POLICIES,
    SelectionPolicy,
)
from labeling.models import Message, Role, messages_from_json
from store.judgments import PairVotes

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


@dataclass
class Selection:
    examples: list[PreferenceExample] = field(default_factory=list)
    both_bad: list[LabelledResponse] = field(default_factory=list)  # kept only with both_bad="kto"
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    pairs_judged: int = 0


def agreement_figures(pairs: Iterable[PairVotes]) -> dict[str, float | int]:
    """How much annotators agreed on the pairs that more than one of them judged: the share of
    such pairs with one verdict only, and the mean share of votes the top verdict got."""
    multi = [pair.votes for pair in pairs if len(pair.votes) > 1]
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


def _prompt_messages(prompt_json: str) -> tuple[Message, ...]:
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
    pairs: Iterable[PairVotes], pairs_all_undone: int, policy: SelectionPolicy
) -> Selection:
    selection = Selection()
    selection.skipped["undone"] = pairs_all_undone
    prompts: dict[str, tuple[Message, ...]] = {}  # per item: its pairs share one parsed prompt

    def prompt_of(pair: PairVotes) -> tuple[Message, ...]:
        prompt = prompts.get(pair.item_id)
        if prompt is None:
            prompt = prompts[pair.item_id] = _prompt_messages(pair.prompt_json)
        return prompt

    for pair in pairs:
        selection.pairs_judged += 1
        winner, reason = aggregate(pair.votes, policy)
        if winner == "tie":
            reason = "tie"
        elif winner == "both_bad":
            reason = "both_bad"
            if policy.both_bad == "kto":
                prompt = prompt_of(pair)
                selection.both_bad.extend(
                    LabelledResponse(pair.item_id, pair.group_key, prompt, rid, text, False)
                    for rid, text in (
                        (pair.response_a_id, pair.response_a),
                        (pair.response_b_id, pair.response_b),
                    )
                )
        if reason is not None:
            selection.skipped[reason] += 1
            continue
        a_wins = winner == pair.response_a_id
        selection.examples.append(
            PreferenceExample(
                pair_id=pair.pair_id,
                item_id=pair.item_id,
                group_key=pair.group_key,
                prompt=prompt_of(pair),
                chosen=pair.response_a if a_wins else pair.response_b,
                rejected=pair.response_b if a_wins else pair.response_a,
                chosen_id=pair.response_a_id if a_wins else pair.response_b_id,
                rejected_id=pair.response_b_id if a_wins else pair.response_a_id,
                votes_for=pair.votes.count(winner or ""),
                votes=len(pair.votes),
                margin=_margin(pair, winner or ""),
            )
        )
    return selection


def _margin(pair: PairVotes, winner: str) -> float | None:
    if len(pair.votes) == 1 and pair.strengths:  # one annotator: their strength, if they gave one
        strength = pair.strengths[0]
        return None if strength is None else float(strength)
    given = [s for vote, s in zip(pair.votes, pair.strengths, strict=False) if vote == winner]
    if not given or any(s is None for s in given):
        return None
    return sum(s for s in given if s is not None) / len(given)


def best_per_item(examples: Iterable[PreferenceExample]) -> list[PreferenceExample]:
    """For SFT: per item, the chosen response that won most often (ties: the higher agreement,
    then the first judged). One training target per prompt."""
    wins: dict[str, Counter[str]] = defaultdict(Counter)
    best: dict[str, PreferenceExample] = {}
    for example in examples:
        wins[example.item_id][example.chosen_id] += 1
    for example in examples:
        current = best.get(example.item_id)
        key = (wins[example.item_id][example.chosen_id], example.agreement)
        if current is None or key > (wins[example.item_id][current.chosen_id], current.agreement):
            best[example.item_id] = example
    return list(best.values())


def preferred_targets(examples: Iterable[PreferenceExample]) -> list[Target]:
    """Targets from pairwise judgments: per prompt, the chosen answer that won most often."""
    return [
        Target(e.item_id, e.group_key, e.prompt, e.chosen, e.chosen_id, "preference", e.agreement, e.rejected)
        for e in best_per_item(examples)
    ]


def labelled_responses(selection: Selection) -> tuple[list[LabelledResponse], int]:
    """For KTO: chosen responses desirable, rejected ones not, both-bad ones not (if kept).
    A response labelled both ways by different pairs is dropped; returns (labels, conflicts)."""
    labels: dict[str, LabelledResponse] = {}
    conflicting: set[str] = set()

    def add(candidate: LabelledResponse) -> None:
        seen = labels.get(candidate.response_id)
        if seen is not None and seen.label != candidate.label:
            conflicting.add(candidate.response_id)
        labels.setdefault(candidate.response_id, candidate)

    for example in selection.examples:
        add(
            LabelledResponse(
                example.item_id, example.group_key, example.prompt, example.chosen_id, example.chosen, True
            )
        )
        add(
            LabelledResponse(
                example.item_id,
                example.group_key,
                example.prompt,
                example.rejected_id,
                example.rejected,
                False,
            )
        )
    for negative in selection.both_bad:
        add(negative)
    kept = [label for rid, label in labels.items() if rid not in conflicting]
    return kept, len(conflicting)


def ranked_pairs(examples: list[PreferenceExample], mode: str) -> list[PreferenceExample]:
    """Pairs from each prompt's ranking, for prompts with three or more responses.

    `all` keeps every decided pair. Otherwise responses are ranked by Copeland score (decided
    wins minus losses within the prompt); `best-worst` keeps one pair, the top over the bottom,
    and `adjacent` one pair per neighbouring ranks; responses with equal scores are not paired.
    A derived pair may not have been judged head to head: its pair_id says `ranked:`.

        >>> from labeling.models import Message, Role
        >>> p = (Message(Role.USER, "q"),)
        >>> won = [PreferenceExample(f"p{n}", "i", "g", p, w, l, w, l, 1, 1)
        ...        for n, (w, l) in enumerate([("A", "B"), ("B", "C"), ("A", "C")])]
        >>> [(e.chosen, e.rejected) for e in ranked_pairs(won, "best-worst")]
        [('A', 'C')]
        >>> [(e.chosen, e.rejected) for e in ranked_pairs(won, "adjacent")]
        [('A', 'B'), ('B', 'C')]
    """
    if mode == "all":
        return examples
    by_item: dict[str, list[PreferenceExample]] = defaultdict(list)
    for example in examples:
        by_item[example.item_id].append(example)
    result: list[PreferenceExample] = []
    for item_examples in by_item.values():
        score: Counter[str] = Counter()
        text: dict[str, str] = {}
        for e in item_examples:
            score[e.chosen_id] += 1
            score[e.rejected_id] -= 1
            text[e.chosen_id], text[e.rejected_id] = e.chosen, e.rejected
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
                    PreferenceExample(
                        f"ranked:{better}>{worse}",
                        first.item_id,
                        first.group_key,
                        first.prompt,
                        text[better],
                        text[worse],
                        better,
                        worse,
                        votes_for,
                        votes,
                    )
                )
    return result
