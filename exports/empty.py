"""Why an export would come out empty, worked out from what each stage of it kept.

An export that would write no records (or, for a training export, an empty training file) is
refused before anything is written, with the stage that emptied it and what to do about it;
`--allow-empty` writes it anyway, with the same words as a warning in its manifest.

    >>> print(why_empty(Funnel("dpo", "trl", pairs_judged=2, skipped={"tie": 2, "undone": 1})))
    all 2 judged pair(s) were skipped: tie 2 (a tie holds no preference to train on)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exports.options import SelectionPolicy
from labeling.models import ExportRef


@dataclass(frozen=True)
class Funnel:
    """How many candidates an export had after each stage."""

    kind: str
    target: str
    datasets: tuple[str, ...] = ()  # the --dataset filter
    known_datasets: dict[str, int] = field(default_factory=dict)  # every dataset: its judged pairs
    undone_per_dataset: dict[str, int] = field(default_factory=dict)  # pairs whose judgments were all undone
    judgments_in_force: int = 0
    pairs_all_undone: int = 0
    pairs_judged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    policy: SelectionPolicy = field(default_factory=SelectionPolicy)
    labelled_both_ways: int = 0  # kto: responses dropped for being chosen and rejected
    candidates: int = 0  # records built from the decided pairs
    max_tokens: int | None = None
    over_max_tokens: int = 0
    kept_out: int = 0  # records of registered eval items (and their clusters) kept out
    kept_out_by: tuple[ExportRef, ...] = ()
    eval_records: int = 0  # records in this export's own eval split


def _datasets(known: dict[str, int]) -> str:
    return ", ".join(f"{name!r} ({pairs} judged pair(s))" for name, pairs in sorted(known.items()))


def _nothing_judged(funnel: Funnel) -> str:
    if funnel.datasets:
        unknown = [name for name in funnel.datasets if name not in funnel.known_datasets]
        asked = ", ".join(repr(name) for name in funnel.datasets)
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            if not funnel.known_datasets:
                return f"--dataset {names}: the store holds no items yet (import some with `prefdesk import`)"
            return (
                f"--dataset {names} matches no dataset in the store; its datasets are "
                f"{_datasets(funnel.known_datasets)}: name one of those, or leave --dataset out"
            )
        undone = sum(funnel.undone_per_dataset.get(name, 0) for name in funnel.datasets)
        if undone:
            return (
                f"every judgment of dataset(s) {asked} was undone ({undone} pair(s) judged, then undone): "
                "judge its pairs again (`prefdesk serve`), or choose another dataset"
            )
        return (
            f"no pair of dataset(s) {asked} has a judgment in force (datasets: "
            f"{_datasets(funnel.known_datasets)}): judge some of its pairs (`prefdesk serve`), or choose "
            "another dataset"
        )
    if not funnel.known_datasets:
        return "the store holds no items: import some (`prefdesk import`) and judge them (`prefdesk serve`)"
    if funnel.judgments_in_force == 0 and funnel.pairs_all_undone:
        return (
            f"every judgment was undone ({funnel.pairs_all_undone} pair(s) judged, then undone): "
            "judge pairs again (`prefdesk serve`)"
        )
    return "no pair has been judged yet: judge some first (`prefdesk serve`)"


def _all_skipped(funnel: Funnel) -> str:
    skipped = {reason: n for reason, n in funnel.skipped.items() if n and reason != "undone"}
    advice = []
    if skipped.get("tie"):
        advice.append("a tie holds no preference to train on")
    if skipped.get("both_bad"):
        advice.append(
            "--both-bad kto makes both answers undesirable examples"
            if funnel.kind == "kto"
            else "a pair judged both bad holds none either"
        )
    if skipped.get("annotators_disagree"):
        advice.append(
            "--aggregate majority keeps pairs most annotators agree on"
            if funnel.policy.aggregate == "unanimous"
            else "a split vote needs another annotator's judgment to decide it"
        )
    if skipped.get("below_min_agreement"):
        advice.append(f"lower --min-agreement (now {funnel.policy.min_agreement})")
    counts = ", ".join(f"{reason} {n}" for reason, n in skipped.items())
    return f"all {funnel.pairs_judged} judged pair(s) were skipped: {counts} ({'; '.join(advice)})"


def _kept_out(funnel: Funnel) -> str:
    sets = ", ".join(export.describe() for export in funnel.kept_out_by)
    return (
        f"{funnel.kept_out} record(s) are of items kept out as eval items, registered by eval set(s) "
        f"{sets}: pass --allow-eval-overlap to train on them anyway, or undo a registration with "
        "`prefdesk evals registry remove ID`"
    )


def why_empty(funnel: Funnel) -> str:
    """The stage that left the export (or its training file) empty, and what to do."""
    if funnel.pairs_judged == 0:
        return _nothing_judged(funnel)
    decided = funnel.pairs_judged - sum(n for reason, n in funnel.skipped.items() if reason != "undone")
    if decided == 0:
        return _all_skipped(funnel)
    if funnel.candidates == 0:
        if funnel.kind == "kto" and funnel.labelled_both_ways:
            return (
                f"every response of the {decided} decided pair(s) was chosen in one pair and rejected in "
                f"another ({funnel.labelled_both_ways} dropped): KTO needs absolute labels"
            )
        return (
            f"the {decided} decided pair(s) give no pair with --pairs {funnel.policy.pairs} (each prompt's "
            "ranking ends level): use --pairs all"
        )
    kept = funnel.candidates - funnel.over_max_tokens
    if kept == 0:
        return (
            f"all {funnel.candidates} record(s) are longer than --max-tokens {funnel.max_tokens}: "
            "raise --max-tokens"
        )
    if funnel.kept_out == kept:
        return f"all {_kept_out(funnel)}"
    if funnel.eval_records == kept:
        return (
            f"the eval split took all {kept} record(s) (a split is made of whole clusters of items): "
            "lower --eval-fraction, or judge more items"
        )
    return (
        f"of {kept} record(s), the eval split took {funnel.eval_records} and {_kept_out(funnel)}"
        if funnel.kept_out
        else f"no record is left for the training file of {kept} record(s)"
    )
