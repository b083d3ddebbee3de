import numpy

from agent.evolution.archive import Archive
from agent.evolution.domain import Fitness, Individual
from agent.evolution.pareto import crowding_distance, dominates, nondominated_fronts, survivors


def test_dominates_is_strict():
    assert dominates((1, 2), (2, 2))
    assert not dominates((1, 2), (1, 2))
    assert not dominates((1, 3), (2, 2))


def test_fronts_of_known_points():
    points = numpy.array([[1, 5], [2, 2], [5, 1], [3, 3], [6, 6], [2, 6]])
    fronts = nondominated_fronts(points)
    assert fronts[0] == [0, 1, 2]
    assert sorted(fronts[1]) == [3, 5]
    assert fronts[2] == [4]


def test_crowding_marks_boundaries_infinite():
    distance = crowding_distance(numpy.array([[0.0, 4.0], [1.0, 3.0], [2.0, 1.0], [4.0, 0.0]]))
    assert numpy.isinf(distance[0]) and numpy.isinf(distance[3])
    assert numpy.isfinite(distance[1]) and distance[1] > 0


def test_survivors_keep_first_front_then_crowding():
    points = numpy.array([[1, 5], [2, 2], [5, 1], [3, 3], [6, 6], [2.1, 2.1]])
    kept = survivors(points, 4)
    assert set(kept[:3]) == {0, 1, 2}
    assert len(kept) == 4 and 4 not in kept


def test_archive_keeps_the_best_per_cell():
    archive = Archive(bins=4)
    worse = Individual("a", Fitness((2.0, 1.0), descriptor=(1,)))
    better = Individual("b", Fitness((1.0, 5.0), descriptor=(1,)))
    other = Individual("c", Fitness((9.0, 9.0), descriptor=(99,)))
    assert archive.offer(worse) and archive.offer(better) and archive.offer(other)
    assert not archive.offer(worse)
    assert archive.cells[(1,)].genome == "b"
    assert archive.cells[(3,)].genome == "c"  # clipped to the last bin
    assert not archive.offer(Individual("d", Fitness((float("inf"), 0.0), descriptor=(0,))))
