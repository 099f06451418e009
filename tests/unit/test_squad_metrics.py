import pytest

from slmesh.evaluation.squad import best_over_truths, exact_match, f1_score, normalize_answer

pytestmark = pytest.mark.unit


def test_normalisation_drops_case_punctuation_and_articles():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an apple a day") == "apple day"


def test_exact_match_and_f1():
    assert exact_match("the Beatles", "Beatles") == 1.0
    assert f1_score("John Lennon and Paul", "John Lennon") == pytest.approx(2 / 3)
    assert f1_score("nothing", "John Lennon") == 0.0


def test_best_over_truths_takes_the_closest_reference_and_handles_unanswerable():
    assert best_over_truths("14:35", ["at 14:35", "14:35"]) == (1.0, 1.0)
    assert best_over_truths("", []) == (1.0, 1.0)
    assert best_over_truths("something", []) == (0.0, 0.0)
