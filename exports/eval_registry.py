"""The eval registry as a person sees it: what an export registers, what it keeps out and
because of which eval sets, and undoing an eval set's registrations.

An eval set is an export's eval items: an `evals` export, or a training export's eval split.
While it is in force, training exports keep its items (and their clusters) out. Removing it
records the removal (nothing is deleted) and frees the items no other eval set in force holds.

    sets = list_eval_sets(store)
    removal = remove_eval_set(store, "3f2a9c1e", now=utc_now)
    removal.freed   # items free for training again
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exports.options import TRAINING_KINDS
from labeling.errors import ExportError, NoSuchEvalSet
from labeling.models import EvalSet, ExportRef
from store import registry
from store.db import Store, Tx


def _holders(holders: list[tuple[ExportRef, int]]) -> list[dict[str, Any]]:
    return [{**export.to_dict(), "items": count} for export, count in holders]


def _named(holders: list[tuple[ExportRef, int]]) -> str:
    return "; ".join(f"{export.describe()}: {count} item(s)" for export, count in holders)


@dataclass(frozen=True)
class Registration:
    """What an export's eval items were before it registered them."""

    items: int
    already: list[tuple[ExportRef, int]]  # eval sets in force that hold some of them already
    already_items: int
    trained: list[tuple[ExportRef, int]]  # earlier training exports that wrote some of them
    trained_items: int
    unchecked: list[ExportRef]  # earlier training exports that did not record their items

    def manifest(self) -> dict[str, Any]:
        return {
            "items_registered": self.items,
            "new": self.items - self.already_items,
            "already_registered": self.already_items,
            "already_registered_by": _holders(self.already),
            "in_earlier_training_exports": self.trained_items,
            "training_exports": _holders(self.trained),
            "training_exports_not_checked": [export.to_dict() for export in self.unchecked],
        }

    def warnings(self) -> list[str]:
        found = []
        if self.trained_items:
            found.append(
                f"{self.trained_items} of the {self.items} eval item(s) were in the training files of "
                f"earlier exports: {_named(self.trained)}. A model trained on those files has seen these "
                "prompts: its scores on them are not held-out scores"
            )
        if self.unchecked:
            ids = ", ".join(export.describe() for export in self.unchecked)
            found.append(
                f"{len(self.unchecked)} earlier training export(s) were made before prefdesk recorded "
                f"which items an export holds, so they could not be checked for these eval items: {ids}"
            )
        return found


def registration(store: Store, item_ids: Collection[str]) -> Registration:
    with store.cursor() as cur:
        already, already_items = registry.eval_sets_holding(cur, item_ids)
        trained, trained_items = registry.training_exports_holding(cur, item_ids)
        unchecked = registry.exports_without_item_records(cur, TRAINING_KINDS) if item_ids else []
    return Registration(len(item_ids), already, already_items, trained, trained_items, unchecked)


@dataclass(frozen=True)
class KeptOut:
    """Records a training export left out because eval sets hold their items."""

    records: int
    items: int
    by: list[tuple[ExportRef, int]]  # the eval sets in force holding the registered ones

    def manifest(self) -> dict[str, Any]:
        return {"records": self.records, "items": self.items, "eval_sets": _holders(self.by)}

    def warning(self) -> str:
        return (
            f"kept out {self.records} record(s) of {self.items} item(s) because eval set(s) registered "
            f"them (or a near-duplicate or same-group item) as eval items: {_named(self.by)}. "
            "Pass --allow-eval-overlap to train on them anyway, or undo a registration with "
            "`prefdesk evals registry remove ID`"
        )


def kept_out(store: Store, records: int, items: int, registered_items: Collection[str]) -> KeptOut:
    with store.cursor() as cur:
        by, _ = registry.eval_sets_holding(cur, registered_items)
    return KeptOut(records, items, by)


def list_eval_sets(store: Store) -> list[EvalSet]:
    """Every eval set, oldest first, removed ones included (with when)."""
    with store.cursor() as cur:
        return registry.eval_sets(cur)


def registered_item_count(store: Store) -> int:
    """How many items eval sets in force keep out of training."""
    with store.cursor() as cur:
        return len(registry.registered_eval_items(cur))


def eval_set_items(store: Store, export_id: str) -> list[str]:
    with store.cursor() as cur:
        return registry.eval_set_items(cur, export_id)


def find_eval_set(store: Store, wanted: str) -> EvalSet:
    """The eval set whose export id is `wanted` or starts with it."""
    sets = list_eval_sets(store)
    found = [s for s in sets if s.export.id == wanted] or [s for s in sets if s.export.id.startswith(wanted)]
    if not wanted or not found:
        known = ", ".join(s.export.short_id for s in sets) or "none"
        raise NoSuchEvalSet(
            f"no eval set {wanted!r} (eval sets: {known}): `prefdesk evals registry list` shows their ids"
        )
    if len(found) > 1:
        matches = ", ".join(s.export.id for s in found)
        raise NoSuchEvalSet(f"{wanted!r} starts {len(found)} eval sets' ids ({matches}): give more of the id")
    return found[0]


@dataclass(frozen=True)
class Removal:
    eval_set: EvalSet
    freed: int  # items no eval set in force holds any more
    still_held: list[tuple[ExportRef, int]]  # other eval sets in force that hold some of its items
    still_held_items: int


def remove_eval_set(store: Store, wanted: str, *, now: Callable[[], datetime]) -> Removal:
    """Undo an eval set's registrations: record the removal, and say what it freed."""
    eval_set = find_eval_set(store, wanted)

    def remove(tx: Tx) -> tuple[datetime | None, list[str], list[tuple[ExportRef, int]], int]:
        removed_before = registry.record_removal(tx.cur, eval_set.export.id, now=now())
        items = registry.eval_set_items(tx.cur, eval_set.export.id)
        still, still_items = registry.eval_sets_holding(tx.cur, items)
        return removed_before, items, still, still_items

    removed_before, items, still, still_items = store.write(remove)
    if removed_before is not None:
        raise ExportError(
            f"eval set {eval_set.export.describe()} was removed already, on "
            f"{removed_before:%Y-%m-%d %H:%M}: its items are not kept out of training on its account"
        )
    return Removal(eval_set, len(items) - still_items, still, still_items)
