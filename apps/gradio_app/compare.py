"""The Compare screen: a prompt, two responses in random order, one key per verdict.

Each handler makes one domain call (labeling.desk.Desk) and one presenter call (present.py).
Named API endpoints, usable with gradio_client under the same login as the browser:
  /next_pair()                              -> the view of the pair to judge
  /submit_pair(showing_id, verdict, rationale) -> records the verdict, returns the next view
  /undo()                                   -> withdraws your last judgment, shows that pair again
The view is (prompt, left, right, progress, showing_id, status, rationale, current) where
`current` is {"showing_id", "item_id", "pair_id", "dataset", "question", "judged", "total", "done"};
its `pair_id` is the alias annotators are shown (labeling/blind.py), never the stored id. The
stored ids of the pair on screen stay on the server, in the session's gr.State.
The browser's own events run the same handlers and also update what only a page has: the
question header and the verdict buttons (off while no pair is shown).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

import gradio as gr

from apps.gradio_app import present
from labeling.desk import Desk, ShownPair
from labeling.errors import (
    IdempotencyConflict,
    JudgmentError,
    NothingToUndo,
    PairFullyJudged,
    TooManyJudgments,
)
from labeling.models import PairVerdict, Showing
from store.errors import StoreWriteError

LOCAL_ANNOTATOR = "local"  # the one person at a desk served on loopback without accounts
VERDICT_BUTTONS = (
    (PairVerdict.LEFT, "btn-left", "1 · Left is better"),
    (PairVerdict.RIGHT, "btn-right", "2 · Right is better"),
    (PairVerdict.TIE, "btn-tie", "3 · Tie"),
    (PairVerdict.BOTH_BAD, "btn-bothbad", "4 · Both bad"),
)
API_VIEW = 9  # the outputs the named endpoints return (the view above, and the session's state)


def annotator_of(request: gr.Request | None) -> str:
    name = getattr(request, "username", None) if request is not None else None
    return name or LOCAL_ANNOTATOR


def _state(shown: ShownPair | None) -> dict[str, Any] | None:
    if shown is None:
        return None
    return {**asdict(shown), "shown_at": shown.shown_at.isoformat()}


def _shown(state: dict[str, Any] | None) -> ShownPair | None:
    if not state:
        return None
    return ShownPair(**{**state, "shown_at": datetime.fromisoformat(state["shown_at"])})


class CompareScreen:
    """Handlers bound to a Desk; `build` lays out the components and wires them."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def _view(self, annotator: str, showing: Showing | None, status: str, tone: str = "") -> tuple[Any, ...]:
        progress = self.desk.progress(annotator)
        shown = ShownPair.of(showing) if showing else None
        current = {
            "showing_id": shown.showing_id if shown else "",
            "item_id": showing.item.id if showing else None,
            "pair_id": self.desk.blind.pair(shown.pair_id) if shown else None,
            "dataset": showing.item.dataset if showing else None,
            "question": showing.wording.question if showing else None,
            "judged": progress.judged,
            "total": progress.total,
            "done": showing is None,
        }
        if showing is None:
            prompt, left, right = present.done_html(), "", ""
        else:
            prompt, left, right = present.showing_view(showing)
        return (
            prompt,
            left,
            right,
            present.progress_html(progress, annotator, signed_in=annotator != LOCAL_ANNOTATOR),
            current["showing_id"],
            present.status_html(status, tone),
            "",
            current,
            _state(shown),
            # the page only, after API_VIEW:
            present.question_html(showing.wording if showing else None, current["showing_id"]),
            *(gr.update(interactive=showing is not None) for _ in VERDICT_BUTTONS),
        )

    def next_pair(self, state: dict[str, Any] | None, request: gr.Request) -> tuple[Any, ...]:
        annotator = annotator_of(request)
        return self._view(annotator, self.desk.next_showing(annotator), "")

    def submit_pair(
        self, showing_id: str, verdict: str, rationale: str, state: dict[str, Any] | None, request: gr.Request
    ) -> tuple[Any, ...]:
        annotator = annotator_of(request)
        shown = _shown(state)
        if shown is None or showing_id != shown.showing_id:
            # A second click on a pair already judged, or a page that fell out of step: store
            # nothing, show the pair that is current now.
            if self.desk.is_recorded(annotator, showing_id):
                status = "That pair was already saved: nothing changed."
            else:
                status = "That pair was no longer on screen: nothing was saved."
            return self._view(annotator, self.desk.next_showing(annotator), status, "warn")
        try:
            self.desk.submit(annotator, shown, verdict, rationale=rationale or "")
        except IdempotencyConflict:
            # Two keys pressed on one pair before the page moved on: the first one counts.
            return self._view(
                annotator,
                self.desk.next_showing(annotator),
                f"That pair (item {shown.item_id}) was already saved with your first key.",
                "warn",
            )
        except PairFullyJudged:
            # Others gave it all the judgments asked for while it was on this screen.
            return self._view(
                annotator,
                self.desk.next_showing(annotator),
                f"That pair (item {shown.item_id}) was judged by enough people meanwhile: "
                "nothing was saved. Here is the next one.",
                "warn",
            )
        except JudgmentError as exc:
            raise gr.Error(str(exc)) from exc
        except StoreWriteError as exc:  # full or read-only disk: the pair stays on screen
            raise gr.Error(
                f"Your verdict was NOT saved: {exc}. Press the key again once it is fixed."
            ) from exc
        return self._view(
            annotator,
            self.desk.next_showing(annotator),
            present.saved_message(verdict, shown.caption, shown.item_id),
            "saved",
        )

    def undo(self, state: dict[str, Any] | None, request: gr.Request) -> tuple[Any, ...]:
        annotator = annotator_of(request)
        try:
            undone = self.desk.undo(annotator)
        except (NothingToUndo, TooManyJudgments, StoreWriteError) as exc:
            raise gr.Error(str(exc)) from exc
        showing = self.desk.show_again(undone)
        return self._view(annotator, showing, present.undone_message(undone, showing.item.caption), "undone")

    # The named endpoints: the same handlers, returning the view without the page-only parts.

    def api_next_pair(self, state: dict[str, Any] | None, request: gr.Request) -> tuple[Any, ...]:
        return self.next_pair(state, request)[:API_VIEW]

    def api_submit_pair(
        self, showing_id: str, verdict: str, rationale: str, state: dict[str, Any] | None, request: gr.Request
    ) -> tuple[Any, ...]:
        return self.submit_pair(showing_id, verdict, rationale, state, request)[:API_VIEW]

    def api_undo(self, state: dict[str, Any] | None, request: gr.Request) -> tuple[Any, ...]:
        return self.undo(state, request)[:API_VIEW]

    def build(self, blocks: gr.Blocks) -> None:
        """Lay out the screen inside `blocks` (an open `with gr.Blocks()`) and wire its events."""
        state = gr.State(None)
        with gr.Row(elem_id="pd-top", equal_height=False):
            progress = gr.HTML(elem_id="pd-progress")
            status = gr.HTML(elem_id="pd-status")  # beside the progress: where the eye is
        question = gr.HTML(elem_id="pd-question")
        prompt = gr.HTML(elem_id="pd-prompt")
        with gr.Row(equal_height=False, elem_id="pd-sides"):
            left = gr.HTML(elem_id="pd-left")
            right = gr.HTML(elem_id="pd-right")
        with gr.Column(elem_id="pd-verdict-bar"):  # sticky: the keys stay in view on a long page
            # "continues below", shown by keyboard.js while the end of a response is out of view
            gr.HTML('<div id="pd-more" role="status" hidden></div>', elem_id="pd-more-cue")
            with gr.Row(elem_id="pd-verdicts"):
                buttons = {
                    verdict: gr.Button(label, elem_id=elem_id, variant="secondary", size="lg")
                    for verdict, elem_id, label in VERDICT_BUTTONS
                }
                undo = gr.Button("u · Undo last", elem_id="btn-undo", variant="secondary", size="lg")
        rationale = gr.Textbox(
            label="Why? (optional: type it before the key; Esc leaves the box)",
            lines=1,
            max_lines=4,
            elem_id="pd-rationale",
        )
        with gr.Row(visible=False):
            showing_id = gr.Textbox(elem_id="pd-showing-id")
            verdict_in = gr.Textbox(elem_id="pd-verdict-in")
            next_api = gr.Button(elem_id="pd-next-api")
            submit_api = gr.Button(elem_id="pd-submit-api")
            undo_api = gr.Button(elem_id="pd-undo-api")
            current = gr.JSON(elem_id="pd-current")
        api_outputs = [prompt, left, right, progress, showing_id, status, rationale, current, state]
        page_outputs = [*api_outputs, question, *buttons.values()]
        assert len(api_outputs) == API_VIEW

        # The page's own events are private; their names must not take the public ones.
        blocks.load(
            self.next_pair,
            inputs=[state],
            outputs=page_outputs,
            api_name="page_next_pair",
            api_visibility="private",
        )
        for verdict, button in buttons.items():
            button.click(
                self._fixed_verdict(verdict),
                inputs=[showing_id, rationale, state],
                outputs=page_outputs,
                api_visibility="private",
                trigger_mode="once",
                queue=False,  # straight to the handler: the queue's round trip was half of key-to-render
            )
        undo.click(
            self.undo,
            inputs=[state],
            outputs=page_outputs,
            api_name="page_undo",
            api_visibility="private",
            trigger_mode="once",
        )
        next_api.click(self.api_next_pair, inputs=[state], outputs=api_outputs, api_name="next_pair")
        submit_api.click(
            self.api_submit_pair,
            inputs=[showing_id, verdict_in, rationale, state],
            outputs=api_outputs,
            api_name="submit_pair",
            trigger_mode="once",
        )
        undo_api.click(self.api_undo, inputs=[state], outputs=api_outputs, api_name="undo")

    def _fixed_verdict(self, verdict: PairVerdict) -> Callable[..., tuple[Any, ...]]:
        def submit(
            showing_id: str, rationale: str, state: dict[str, Any] | None, request: gr.Request
        ) -> tuple[Any, ...]:
            return self.submit_pair(showing_id, verdict.value, rationale, state, request)

        return submit
