import numpy as np
import pytest

from slmesh.skills.spans import Window, best_span

pytestmark = pytest.mark.unit


def window(starts: list[float], ends: list[float], offsets: list[tuple[int, int] | None]) -> Window:
    return Window(np.array(starts), np.array(ends), offsets)


def test_picks_the_highest_scoring_valid_span():
    # Given [CLS] q [SEP] c1 c2 c3 [SEP] where c2..c3 is the strongest pair
    w = window(
        [0.0, 0.0, 0.0, 1.0, 5.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 1.0, 6.0, 0.0],
        [None, None, None, (0, 3), (4, 8), (9, 12), None],
    )
    decoded = best_span([w])
    assert decoded.best is not None
    assert (decoded.best.start, decoded.best.end) == (4, 12)
    assert decoded.null_score == 0.0


def test_never_returns_an_end_before_its_start():
    w = window([0.0, 0.0, 9.0], [0.0, 9.0, 0.0], [None, (0, 2), (3, 5)])
    decoded = best_span([w])
    assert decoded.best is not None
    assert decoded.best.start <= decoded.best.end
    assert (decoded.best.start, decoded.best.end) == (3, 5)


def test_respects_the_maximum_answer_length():
    offsets = [None] + [(i * 2, i * 2 + 1) for i in range(10)]
    starts = [0.0, 9.0] + [0.0] * 9
    ends = [0.0] * 10 + [9.0]
    decoded = best_span([window(starts, ends, offsets)], max_answer_tokens=3)
    assert decoded.best is not None
    assert decoded.best.end - decoded.best.start <= 3 * 2


def test_answer_at_a_window_boundary_comes_from_the_window_that_holds_it_whole():
    # The answer (20, 30) is cut at the end of window 1 but whole in window 2, which scores it higher.
    first = window([0.0, 0.0, 4.0], [0.0, 0.0, 3.0], [None, (10, 15), (20, 25)])
    second = window([0.0, 6.0, 0.0], [0.0, 0.0, 6.0], [None, (20, 25), (26, 30)])
    decoded = best_span([first, second])
    assert decoded.best is not None
    assert (decoded.best.start, decoded.best.end) == (20, 30)


def test_null_score_is_the_smallest_cls_score_over_windows():
    first = window([3.0, 1.0], [3.0, 1.0], [None, (0, 1)])
    second = window([-1.0, 1.0], [0.5, 1.0], [None, (2, 3)])
    assert best_span([first, second]).null_score == pytest.approx(-0.5)


def test_no_context_tokens_gives_no_span():
    decoded = best_span([window([1.0, 2.0], [1.0, 2.0], [None, None])])
    assert decoded.best is None


def test_probability_is_a_probability():
    w = window([0.0, 2.0, 1.0], [0.0, 1.0, 2.0], [None, (0, 1), (2, 3)])
    decoded = best_span([w])
    assert decoded.best is not None
    assert 0.0 < decoded.best.probability <= 1.0
