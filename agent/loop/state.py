"""The checkpointed state of the run loop: ids, counters and paths, never logs or diffs.

LangGraph saves a full snapshot of this state after every node (SQLite, synchronous),
so it stays small: what each lane is doing (`Slot`) and a few counters. Everything
bulky lives in git (commits, notes) or in the run folder (candidate files, logs),
and the state points at it by path.
"""

from __future__ import annotations

from typing import Any, TypedDict

SCHEMA = 1


class Slot(TypedDict):
    """One experiment in flight, in one lane."""

    exp: int
    lane: int
    parent: int | None
    partner: int | None
    mode: str  # baseline | draft | debug | improve | sample | model | mutate | crossover
    why: str  # the strategy's reason, one line
    turn: int  # 1 = first turn of the attempt
    stage: str  # new → proposed → checked → committed → evaluated → done
    candidate: str  # path of this turn's candidate file (run folder), "" before propose
    context: str  # path of the retrieved context, "" when none
    # the turn policy's state (limit, extensions) and the turn's base commit; on a slot that
    # evaluates a time-cut experiment again, `recut`: the cut verdict's time (`nodes.RECUT`)
    turn_state: dict[str, Any]


class LoopState(TypedDict):
    schema: int
    run_id: str
    step: int  # our own node counter (LangGraph's recursion limit is per call)
    next_exp: int
    slots: list[Slot]
    elapsed: float  # seconds of running, summed over resumes
    rejections: int  # candidates rejected in a row
    stop_reason: str
    finished: bool


def initial_state(run_id: str) -> LoopState:
    return LoopState(
        schema=SCHEMA,
        run_id=run_id,
        step=0,
        next_exp=0,
        slots=[],
        elapsed=0.0,
        rejections=0,
        stop_reason="",
        finished=False,
    )


def new_slot(
    exp: int, lane: int, parent: int | None, mode: str, why: str = "", partner: int | None = None
) -> Slot:
    return Slot(
        exp=exp,
        lane=lane,
        parent=parent,
        partner=partner,
        mode=mode,
        why=why,
        turn=1,
        stage="new",
        candidate="",
        context="",
        turn_state={},
    )
