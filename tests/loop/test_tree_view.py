"""`strop log` past its limit: the best's line and the newest, connected, with what is left out counted."""

from __future__ import annotations

from dataclasses import dataclass

from agent.cli.tree_view import tree_view


@dataclass
class R:
    id: int
    parent: int | None


def _chain_and_fan(n: int) -> list[R]:
    """0 is the root; 1..9 a chain under it; the rest fan out under 0 and 3 alternately."""
    records = [R(0, None), *(R(i, i - 1) for i in range(1, 10))]
    return records + [R(i, 0 if i % 2 else 3) for i in range(10, n)]


def test_a_small_run_is_drawn_whole() -> None:
    records = _chain_and_fan(40)
    view = tree_view(records, best=5, newest=5, limit=40)
    assert view.shown == {r.id for r in records} and view.hidden_under == {} and view.hidden(40) == 0


def test_past_the_limit_the_best_line_and_the_newest_with_their_parents_and_every_hidden_one_counted() -> (
    None
):
    records = _chain_and_fan(200)
    view = tree_view(records, best=9, newest=4, limit=60)
    assert view.shown == {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 196, 197, 198, 199}
    # every record is either drawn or counted once, under its nearest drawn ancestor
    assert len(view.shown) + sum(view.hidden_under.values()) == 200
    assert view.hidden_under == {0: 93, 3: 93}
    assert view.hidden(200) == 186


def test_hidden_subtrees_are_counted_whole_and_an_unknown_parent_hangs_under_the_root() -> None:
    records = [R(0, None), R(1, 0), *(R(i, 1) for i in range(2, 70)), R(70, 99)]
    view = tree_view(records, best=None, newest=1, limit=60)
    assert view.shown == {70}  # its parent 99 is not in the run: drawn under the root
    assert view.hidden_under == {None: 70}
