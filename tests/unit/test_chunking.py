"""Documents cut into knowledge-base chunks: sections, packing, overlap, cleanup per format, and finding files."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slmesh.kb.chunking import (
    SUFFIXES,
    Chunk,
    ChunkingSettings,
    UnsupportedDocumentError,
    chunk_file,
    chunk_html,
    chunk_markdown,
    chunk_text,
    find_documents,
    split_sentences,
)

pytestmark = pytest.mark.unit

DEMO_KB = Path(__file__).resolve().parents[2] / "examples" / "kb"


def sentences(count: int, words: int = 5, start: int = 0) -> list[str]:
    """`count` distinct sentences of `words` words each: "Sentence 3 has some words."."""
    return [" ".join([f"Sentence {i}", *["word"] * (words - 3), "end."]) for i in range(start, start + count)]


def headings(chunks: list[Chunk]) -> list[str | None]:
    return [chunk.heading for chunk in chunks]


# --- Headings --------------------------------------------------------------------------------------------------------


def test_atx_headings_give_the_path_of_headings_above() -> None:
    text = (
        "# Guide\n\nIntro.\n\n## Delays ##\n\nDelay text.\n\n### Claiming\n\nClaim text.\n\n"
        "## Fares\n\nFare text.\n\n#### Deep\n\nDeep text.\n\n# Other\n\nOther text."
    )
    chunks = chunk_markdown(text, "guide.md")
    assert [(c.heading, c.text) for c in chunks] == [
        ("Guide", "Intro."),
        ("Guide › Delays", "Delay text."),
        ("Guide › Delays › Claiming", "Claim text."),
        ("Guide › Fares", "Fare text."),
        ("Guide › Fares › Deep", "Deep text."),
        ("Other", "Other text."),
    ]
    assert [c.position for c in chunks] == list(range(6))
    assert {c.source for c in chunks} == {"guide.md"}


def test_setext_headings_are_headings_and_a_lone_rule_is_not() -> None:
    text = "Guide\n=====\n\nIntro.\n\nDelays\n------\nDelay text.\n\n---\n\nMore delay text."
    chunks = chunk_markdown(text, "guide.md")
    assert headings(chunks) == ["Guide", "Guide › Delays"]
    assert chunks[1].text == "Delay text. More delay text."


def test_a_title_alone_heads_the_whole_document() -> None:
    chunks = chunk_markdown("# Lost Property\n\nItems are kept for 30 days.\n\nBring photo ID.", "lost.md")
    assert headings(chunks) == ["Lost Property"]
    assert chunks[0].text == "Items are kept for 30 days. Bring photo ID."


def test_text_before_the_first_heading_has_none_and_hashes_without_a_space_are_text() -> None:
    chunks = chunk_markdown("Preface.\n\n#hashtag here.\n\n# Title\n\nBody.", "a.md")
    assert [(c.heading, c.text) for c in chunks] == [(None, "Preface. #hashtag here."), ("Title", "Body.")]


# --- Packing, splitting, overlap -------------------------------------------------------------------------------------


def test_paragraphs_of_a_section_are_packed_while_they_fit() -> None:
    paragraphs = [" ".join(sentences(2, start=2 * i)) for i in range(5)]  # 10 words each
    chunks = chunk_text("\n\n".join(paragraphs), "a.txt", ChunkingSettings(max_words=30, overlap_sentences=0))
    assert [c.text for c in chunks] == [" ".join(paragraphs[:3]), " ".join(paragraphs[3:])]


def test_a_chunk_never_spans_two_sections() -> None:
    text = "# A\n\nOne short line.\n\n## B\n\nAnother short line."
    chunks = chunk_markdown(text, "a.md", ChunkingSettings(max_words=100))
    assert [(c.heading, c.text) for c in chunks] == [("A", "One short line."), ("A › B", "Another short line.")]


def test_a_long_paragraph_is_split_between_sentences() -> None:
    parts = sentences(12)  # 60 words in one paragraph
    chunks = chunk_text(" ".join(parts), "a.txt", ChunkingSettings(max_words=20, overlap_sentences=0))
    assert [c.text for c in chunks] == [" ".join(parts[i : i + 4]) for i in range(0, 12, 4)]


def test_a_sentence_longer_than_max_words_is_cut_at_max_words() -> None:
    words = [f"w{i}" for i in range(25)]
    chunks = chunk_text(" ".join(words) + ".", "a.txt", ChunkingSettings(max_words=10, overlap_sentences=0))
    assert [len(c.text.split()) for c in chunks] == [10, 10, 5]
    assert " ".join(c.text for c in chunks) == " ".join(words) + "."


def test_each_next_chunk_of_a_section_starts_with_the_last_sentence_before() -> None:
    parts = sentences(10)
    chunks = chunk_text(" ".join(parts), "a.txt", ChunkingSettings(max_words=12, overlap_sentences=1))
    assert len(chunks) > 2
    for before, after in pairwise(chunks):
        assert after.text.startswith(split_sentences(before.text)[-1] + " ")
        assert len(after.text.split()) <= 12
    # Every sentence is in some chunk, in order.
    seen = [s for c in chunks for s in split_sentences(c.text)]
    assert list(dict.fromkeys(seen)) == parts


def test_overlap_of_more_sentences() -> None:
    parts = sentences(8)
    chunks = chunk_text(" ".join(parts), "a.txt", ChunkingSettings(max_words=20, overlap_sentences=2))
    assert [split_sentences(c.text) for c in chunks[:2]] == [parts[0:4], parts[2:6]]


def test_overlap_stays_within_a_section() -> None:
    text = "# A\n\n" + " ".join(sentences(3)) + "\n\n# B\n\n" + " ".join(sentences(3, start=3))
    chunks = chunk_markdown(text, "a.md", ChunkingSettings(max_words=10, overlap_sentences=1))
    assert [(c.heading, split_sentences(c.text)) for c in chunks] == [
        ("A", sentences(2)),
        ("A", sentences(2, start=1)),
        ("B", sentences(2, start=3)),
        ("B", sentences(2, start=4)),
    ]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_words"):
        ChunkingSettings(max_words=0)
    with pytest.raises(ValueError, match="overlap_sentences"):
        ChunkingSettings(overlap_sentences=-1)


@settings(max_examples=40)
@given(
    paragraphs=st.lists(
        st.lists(st.sampled_from(["Yes.", "It runs at 3.5 km.", "Mr. Lee waits", "no", "A b c d e f g.", "Hi!"])),
        max_size=8,
    ),
    max_words=st.integers(1, 15),
    overlap=st.integers(0, 3),
)
def test_chunks_are_bounded_clean_and_keep_every_word(
    paragraphs: list[list[str]], max_words: int, overlap: int
) -> None:
    text = "\n\n".join(" ".join(p) for p in paragraphs)
    chunks = chunk_text(text, "a.txt", ChunkingSettings(max_words=max_words, overlap_sentences=overlap))
    for i, chunk in enumerate(chunks):
        assert chunk.position == i
        assert chunk.text and chunk.text == " ".join(chunk.text.split())
        assert len(chunk.text.split()) <= max_words
    if overlap == 0:
        assert " ".join(c.text for c in chunks).split() == text.split()


# --- Markdown cleanup ------------------------------------------------------------------------------------------------


def test_markdown_inline_markup_is_reduced_to_its_text() -> None:
    text = (
        'See [the rules](https://example.org/rules_(2024) "Rules") and ![a map](map.png) the **bold**, *em*, '
        "_em too_, ~~old~~, `snake_case *name*` and a snake_case_word, <https://example.org>, <b>tag</b>&amp;co.\\*"
    )
    assert chunk_markdown(text, "a.md")[0].text == (
        "See the rules and the bold, em, em too, old, snake_case *name* and a snake_case_word, https://example.org, "
        "tag&co.*"
    )


def test_code_fences_front_matter_and_comments_are_dropped() -> None:
    text = (
        "---\ntitle: Fares\ntags: [a, b]\n---\n# Fares\n\nBefore.\n\n```python\n# not a heading\nprint('x')\n```\n\n"
        "~~~\ncode\n~~~\n\n<!-- a note\nover lines -->After.\n\n[ref]: https://example.org"
    )
    chunks = chunk_markdown(text, "a.md")
    assert [(c.heading, c.text) for c in chunks] == [("Fares", "Before. After.")]


def test_list_items_read_as_one_sentence_and_lists_apart() -> None:
    text = (
        "To claim, bring:\n- your **ticket**\n- the date\n  of travel\n- a [photo](x.jpg) of it\n\n"
        "1. Fill in the form.\n2. Send it\n\n* loose one\n\n* loose two"
    )
    assert chunk_markdown(text, "a.md")[0].text == (
        "To claim, bring: your ticket; the date of travel; a photo of it. Fill in the form. Send it. "
        "loose one; loose two."
    )


def test_a_numbered_line_inside_a_paragraph_is_no_list() -> None:
    chunks = chunk_markdown("The station reopened in\n2019. It was restored.", "a.md")
    assert chunks[0].text == "The station reopened in 2019. It was restored."


def test_table_rows_become_sentences_of_cells() -> None:
    text = "Lifts:\n\n| Station | Lifts |\n|:--------|------:|\n| Old Town | 2 |\n| **Millbrook** | |\n\nAfter."
    chunks = chunk_markdown(text, "a.md")
    assert chunks[0].text == "Lifts: Station, Lifts. Old Town, 2. Millbrook. After."


def test_blockquotes_lose_their_markers() -> None:
    chunks = chunk_markdown("Before.\n> Quoted line\n> goes on.\n>\n> > Nested.", "a.md")
    assert chunks[0].text == "Before. Quoted line goes on. Nested."


# --- HTML ------------------------------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><title>Riverside Rail</title><style>p { color: red }</style>
<script>document.write("<p>Script text.</p>")</script></head>
<body><header>Site header</header><nav><a href="/">Home</a> | <a href="/fares">Fares</a></nav>
<h1>Tickets &amp; Fares</h1>
<p>A single costs 3.20&nbsp;euros.<br>Children&rsquo;s fares are <b>half</b>.</p>
<h2>Season tickets</h2>
<div>Weekly: 24 euros.</div>
<ul><li>Monthly</li><li>Annual<ul><li>paid once</li></ul></li></ul>
<h3>Prices</h3>
<table><tr><th>Ticket</th><th>Price</th></tr><tr><td>Weekly</td><td>24 &euro;</td></tr></table>
<h2>Railcards</h2><dl><dt>Young Person</dt><dd>Ages 16 to 25.</dd></dl>
<noscript>Enable scripts.</noscript><template><p>Hidden.</p></template>
<footer>Copyright</footer></body></html>"""


def test_html_keeps_the_text_under_its_headings_and_skips_page_furniture() -> None:
    chunks = chunk_html(PAGE, "fares.html")
    assert [(c.heading, c.text) for c in chunks] == [
        ("Tickets & Fares", "A single costs 3.20 euros. Children’s fares are half."),
        ("Tickets & Fares › Season tickets", "Weekly: 24 euros. Monthly; Annual; paid once."),
        ("Tickets & Fares › Season tickets › Prices", "Ticket, Price. Weekly, 24 €."),
        ("Tickets & Fares › Railcards", "Young Person Ages 16 to 25."),
    ]
    everything = " ".join(c.text for c in chunks)
    for furniture in ("Script", "Site header", "Home", "Copyright", "Enable", "Hidden", "color"):
        assert furniture not in everything


def test_html_title_heads_a_page_without_h1() -> None:
    page = "<title> Lost  property </title><p>Intro.</p><h2>Fees</h2><p>5 euros.</p>"
    assert headings(chunk_html(page, "a.html")) == ["Lost property", "Lost property › Fees"]
    assert headings(chunk_html("<title>T</title><h1>Real</h1><p>x</p>", "a.html")) == ["Real"]


def test_html_without_closing_tags() -> None:
    chunks = chunk_html("<p>First.<p>Second.<ul><li>one<li>two</ul>", "a.html")
    assert chunks[0].text == "First. Second. one; two."


# --- Plain text, empty documents -------------------------------------------------------------------------------------


def test_text_paragraphs_are_single_spaced_and_have_no_heading() -> None:
    text = "  # Not a heading\n\nFirst   line\n   wraps here.\r\n\r\n\tSecond\tparagraph.  \n \n"
    chunks = chunk_text(text, "notes.txt", ChunkingSettings(max_words=5, overlap_sentences=0))
    assert [(c.heading, c.text) for c in chunks] == [
        (None, "# Not a heading"),
        (None, "First line wraps here."),
        (None, "Second paragraph."),
    ]


@pytest.mark.parametrize("chunker", [chunk_markdown, chunk_text, chunk_html])
def test_empty_documents_give_no_chunks(chunker: Callable[[str, str], list[Chunk]]) -> None:
    for text in ("", "  \n\n \t\n"):
        assert chunker(text, "empty") == []
    assert chunk_markdown("<!-- a comment -->\n\n```\ncode\n```\n\n![only an image](a.png)", "e.md") == []
    assert chunk_html("<html><script>x()</script><p> </p></html>", "e.html") == []


def test_chunking_is_deterministic() -> None:
    text = (DEMO_KB / "tickets-and-fares.md").read_text(encoding="utf-8")
    small = ChunkingSettings(max_words=30)
    assert chunk_markdown(text, "t.md", small) == chunk_markdown(text, "t.md", small)


# --- Sentences -------------------------------------------------------------------------------------------------------


def test_sentences_end_at_terminal_punctuation_before_a_capital_or_digit() -> None:
    assert split_sentences("Trains run late.  Buses too! Why?\n2 trains left. ok then.") == [
        "Trains run late.",
        "Buses too!",
        "Why?",
        "2 trains left. ok then.",
    ]


def test_sentences_do_not_end_at_abbreviations_initials_or_decimals() -> None:
    text = (
        "Bring ID, e.g. A passport, i.e. One document, etc. Then Mr. Lee and Mrs. Lee met Dr. Khan at St. Mary's "
        "station, platform No. 2, vs. J. R. Smith in the U.S. Army. Fares rose 3.5 percent to 3.20 euros. Done."
    )
    assert split_sentences(text) == [
        "Bring ID, e.g. A passport, i.e. One document, etc. Then Mr. Lee and Mrs. Lee met Dr. Khan at St. Mary's "
        "station, platform No. 2, vs. J. R. Smith in the U.S. Army.",
        "Fares rose 3.5 percent to 3.20 euros.",
        "Done.",
    ]
    # "No." ends a sentence unless a number follows.
    assert split_sentences("The answer was no. Then we left.") == ["The answer was no.", "Then we left."]


def test_sentences_keep_closing_quotes_and_brackets_and_break_at_blank_lines() -> None:
    text = 'He said "Wait here." Then he left. (It was late.) "Why?" she asked... Nobody knew\n\nA new paragraph'
    assert split_sentences(text) == [
        'He said "Wait here."',
        "Then he left.",
        "(It was late.)",
        '"Why?" she asked...',
        "Nobody knew",
        "A new paragraph",
    ]
    assert split_sentences("  \n ") == []


# --- Files -----------------------------------------------------------------------------------------------------------


def test_chunk_file_dispatches_by_suffix(tmp_path: Path) -> None:
    (tmp_path / "a.MD").write_text("# T\n\n**Bold** text.", encoding="utf-8")
    (tmp_path / "b.text").write_text("# Not a heading.", encoding="utf-8")
    (tmp_path / "c.htm").write_text("<h1>T</h1><p>Para &amp; more.</p>", encoding="utf-8")
    (tmp_path / "d.md").write_bytes(b"\xef\xbb\xbf# BOM\n\nBad byte \xff here.")
    assert [(c.heading, c.text) for c in chunk_file(tmp_path / "a.MD", "a.MD")] == [("T", "Bold text.")]
    assert [(c.heading, c.text) for c in chunk_file(tmp_path / "b.text", "b")] == [(None, "# Not a heading.")]
    assert [(c.heading, c.text) for c in chunk_file(tmp_path / "c.htm", "c")] == [("T", "Para & more.")]
    assert [(c.heading, c.text) for c in chunk_file(tmp_path / "d.md")] == [("BOM", "Bad byte \ufffd here.")]
    assert chunk_file(tmp_path / "d.md")[0].source == (tmp_path / "d.md").as_posix()


def test_chunk_file_refuses_other_suffixes(tmp_path: Path) -> None:
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    with pytest.raises(UnsupportedDocumentError, match=r"notes\.pdf.*\.md.*\.html"):
        chunk_file(tmp_path / "notes.pdf")
    assert set(SUFFIXES.values()) == {"markdown", "text", "html"}


def test_find_documents_walks_directories_and_names_files_under_them(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    for name in ("b.md", "a.txt", "sub/c.html", "sub/deeper/d.markdown", "image.png", ".hidden.md", ".git/e.md"):
        (kb / name).parent.mkdir(parents=True, exist_ok=True)
        (kb / name).write_text("x", encoding="utf-8")
    (tmp_path / "single.htm").write_text("x", encoding="utf-8")
    found = find_documents([kb, tmp_path / "single.htm", kb / "b.md"])
    assert [source for _, source in found] == ["a.txt", "b.md", "sub/c.html", "sub/deeper/d.markdown", "single.htm"]
    assert [path for path, _ in found] == [
        kb / "a.txt",
        kb / "b.md",
        kb / "sub" / "c.html",
        kb / "sub" / "deeper" / "d.markdown",
        tmp_path / "single.htm",
    ]


def test_find_documents_refuses_unsupported_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b", encoding="utf-8")
    with pytest.raises(UnsupportedDocumentError, match=r"data\.csv"):
        find_documents([tmp_path / "data.csv"])
    with pytest.raises(FileNotFoundError, match="missing"):
        find_documents([tmp_path / "missing"])
    assert find_documents([]) == []


def test_embedded_text_carries_the_heading() -> None:
    assert Chunk("Claims within 28 days.", "d.md", "Delays › Time Limit", 0).embedded_text == (
        "Delays › Time Limit: Claims within 28 days."
    )
    assert Chunk("Plain.", "n.txt", None, 0).embedded_text == "Plain."


# --- The demo knowledge base -----------------------------------------------------------------------------------------


def test_demo_knowledge_base_chunks() -> None:
    limit = ChunkingSettings().max_words
    documents = find_documents([DEMO_KB])
    assert {source for _, source in documents} >= {"station-history.md", "delays-and-compensation.md"}
    chunks = [chunk for path, source in documents for chunk in chunk_file(path, source)]
    assert {c.source for c in chunks} == {source for _, source in documents}
    sizes = [len(c.text.split()) for c in chunks]
    assert max(sizes) <= limit * 1.5
    assert statistics.median(sizes) >= 30
    assert all(c.heading for c in chunks)
    assert all(ch not in c.text for c in chunks for ch in "#*`[]")
    (history,) = [c for c in chunks if "1847" in c.text]
    assert history.source == "station-history.md"
    assert history.heading == "History of the Riverside Line › Old Town Station"
    assert history.text.startswith("Old Town station opened in 1847 and was the first train station in the city.")
    claiming = [c for c in chunks if c.heading == "Delays and Compensation › How to Claim"]
    assert len(claiming) == 1 and "riversiderail.example/delayrepay" in claiming[0].text
