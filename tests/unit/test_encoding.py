import pytest

from slmesh.encoding import head_tail, pad_batch, windows

pytestmark = pytest.mark.unit


def test_head_tail_keeps_both_ends_and_the_length():
    ids = list(range(100))
    kept = head_tail(ids, max_length=10, head=4)
    assert kept == [0, 1, 2, 3, 94, 95, 96, 97, 98, 99]


def test_head_tail_leaves_short_sequences_alone():
    assert head_tail([1, 2, 3], max_length=10, head=4) == [1, 2, 3]


def test_pad_batch_pads_to_the_longest_row_with_a_mask():
    feeds = pad_batch([[1, 2, 3], [4]], [[0, 0, 1], [0]])
    assert feeds["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert feeds["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert feeds["token_type_ids"].tolist() == [[0, 0, 1], [0, 0, 0]]


def test_windows_cover_every_token_with_half_overlap_and_keep_the_special_tokens() -> None:
    ids = [101, *range(1, 19), 102]
    pieces = windows(ids, max_length=8)
    assert all(p[0] == 101 and p[-1] == 102 and len(p) <= 8 for p in pieces)
    assert {t for p in pieces for t in p[1:-1]} == set(range(1, 19))
    assert pieces[1][1:4] == pieces[0][4:7]
    assert windows([101, 5, 6, 102], max_length=8) == [[101, 5, 6, 102]]
