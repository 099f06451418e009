"""Documents cut into chunks for the knowledge base: Markdown, plain text and HTML, by section, in whole sentences.

Each parser reduces its format to sections (a heading path and its paragraphs, each paragraph a list of sentences);
one packer then fills chunks of up to `max_words` words from a section's paragraphs, so every format is cut alike.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

SUFFIXES: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
}
"""The document kind of each supported file suffix (compared in lower case)."""

HEADING_SEPARATOR = " › "


class UnsupportedDocumentError(ValueError):
    """A file whose suffix is not one of SUFFIXES."""


@dataclass(frozen=True)
class Chunk:
    text: str
    """The passage itself, clean prose without markup: what QA reads."""
    source: str
    """The document's path as given (posix separators)."""
    heading: str | None
    """The heading path above the passage ("Delays and Compensation › How to Claim"); None when there is none."""
    position: int
    """The chunk's number within its document, from 0."""

    @property
    def embedded_text(self) -> str:
        """What gets embedded: the heading gives the passage the context its sentences often leave out."""
        return f"{self.heading}: {self.text}" if self.heading else self.text


@dataclass(frozen=True)
class ChunkingSettings:
    max_words: int = 120
    """Words a chunk holds at most, in whole sentences; a single longer sentence is cut every `max_words` words."""
    overlap_sentences: int = 1
    """Sentences each chunk after the first of a section repeats from the end of the one before."""

    def __post_init__(self) -> None:
        if self.max_words < 1:
            raise ValueError("max_words must be at least 1")
        if self.overlap_sentences < 0:
            raise ValueError("overlap_sentences must not be negative")


# --- Sentences -------------------------------------------------------------------------------------------------------

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"([.!?…]+)([\"'”’»)\]]*) ")
_OPENERS = "\"'“‘«(["
# fmt: off
_ABBREVIATIONS = frozenset({
    "e.g.", "i.e.", "etc.", "vs.", "cf.", "mr.", "mrs.", "ms.", "mx.", "dr.", "prof.", "st.", "sr.", "jr.",
    "mt.", "ft.", "approx.", "dept.", "est.", "fig.", "figs.", "inc.", "ltd.", "co.", "corp.", "ca.", "al.",
})
# fmt: on
# These end sentences often enough ("The answer is no. Then ...") to count as abbreviations only before a number.
_NUMBER_ABBREVIATIONS = frozenset({"no.", "nos.", "nr."})
# Initials and dotted acronyms: "J. Smith", "U.S. trains" (and e.g./i.e. in any case).
_INITIALS = re.compile(r"(?:[^\W\d_]\.)+")


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, each stripped and single-spaced.

    A sentence ends at . ! ? or … (closing quotes and brackets included) before a space and an uppercase letter, a
    digit or an opening quote or bracket, and at a blank line; not after an abbreviation (e.g., Mr., St., No. 5) or an
    initial, and never inside a number such as 3.5.
    """
    sentences: list[str] = []
    for paragraph in _BLANK_LINE.split(text.replace("\r\n", "\n")):
        paragraph = " ".join(paragraph.split())
        start = 0
        for end in _SENTENCE_END.finditer(paragraph):
            following = paragraph[end.end() : end.end() + 1]
            if not (following.isupper() or following.isdigit() or (following and following in _OPENERS)):
                continue
            if end.group(1) == "." and _abbreviation_before(paragraph, end.start(), following):
                continue
            sentences.append(paragraph[start : end.end()].strip())
            start = end.end()
        sentences.append(paragraph[start:].strip())
    return [sentence for sentence in sentences if sentence]


def _abbreviation_before(paragraph: str, period: int, following: str) -> bool:
    word = paragraph[paragraph.rfind(" ", 0, period) + 1 : period + 1].lstrip(_OPENERS).lower()
    return (
        word in _ABBREVIATIONS
        or (word in _NUMBER_ABBREVIATIONS and following.isdigit())
        or _INITIALS.fullmatch(word) is not None
    )


# --- Sections --------------------------------------------------------------------------------------------------------

_Section = tuple[tuple[str, ...], list[list[str]]]
"""A heading path and its paragraphs, each a list of sentences."""

# An item or row that does not end like this gets "; " or "." so that the passage reads as prose.
_ENDINGS = ".!?…:;,"
_CLOSERS = "\"'”’»)]"


def _collapse(text: str) -> str:
    return " ".join(text.split())


@dataclass
class _Piece:
    kind: str  # "text" (lines of a paragraph), "item" (of a list) or "row" (of a table, its cells)
    parts: list[str]


class _Builder:
    """A document's sections, collected block by block as a parser meets them."""

    def __init__(self, clean: Callable[[str], str]) -> None:
        self._clean = clean
        self._path: list[tuple[int, str]] = []
        self._pieces: list[_Piece] = []
        self.sections: list[_Section] = [((), [])]

    @property
    def in_list(self) -> bool:
        return bool(self._pieces) and self._pieces[-1].kind == "item"

    @property
    def in_paragraph(self) -> bool:
        return len(self._pieces) == 1 and self._pieces[0].kind == "text"

    def add_text(self, line: str) -> None:
        if self._pieces and self._pieces[-1].kind == "text":
            self._pieces[-1].parts.append(line)
        else:
            self._pieces.append(_Piece("text", [line]))

    def add_item(self, line: str) -> None:
        self._pieces.append(_Piece("item", [line]))

    def continue_item(self, line: str) -> None:
        self._pieces[-1].parts.append(line)

    def add_row(self, cells: list[str]) -> None:
        self._pieces.append(_Piece("row", cells))

    def take_paragraph(self) -> str:
        """The paragraph collected so far, removed (a setext heading's title)."""
        return self._clean(" ".join(self._pieces.pop().parts))

    def heading(self, level: int, title: str) -> None:
        self.end_block()
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        if title:
            self._path.append((level, title))
        self.sections.append((tuple(name for _, name in self._path), []))

    def end_block(self) -> None:
        texts: list[tuple[str, str]] = []
        for piece in self._pieces:
            if piece.kind == "row":
                text = ", ".join(cell for cell in map(self._clean, piece.parts) if cell)
            else:
                text = self._clean(" ".join(piece.parts))
            if text:
                texts.append((piece.kind, text))
        self._pieces = []
        sentences: list[str] = []
        for i, (kind, text) in enumerate(texts):
            if kind != "text" and text.rstrip(_CLOSERS)[-1:] not in _ENDINGS:
                more = kind == "item" and i + 1 < len(texts) and texts[i + 1][0] == "item"
                text += ";" if more else "."
            sentences.extend(split_sentences(text))
        if sentences:
            self.sections[-1][1].append(sentences)


# --- Markdown --------------------------------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"---[ \t]*\n(?:.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|$)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*")
_BREAK = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*")
_QUOTE = re.compile(r" {0,3}>[ \t]?")
_ITEM = re.compile(r"[ \t]*([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?")
_TABLE_RULE = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*")
_CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
_REFERENCE = re.compile(r" {0,3}\[[^\]]+\]:[ \t]*\S+.*")

_IMAGE = re.compile(r"!\[[^\]]*\](?:\([^)]*\)|\[[^\]]*\])")
_LINK = re.compile(r"\[([^\]]*)\](?:\((?:[^()]|\([^()]*\))*\)|\[[^\]]*\])")
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+|[^>\s@]+@[^>\s@]+)>")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_FOOTNOTE = re.compile(r"\[\^[^\]]+\]")
_STRONG = re.compile(r"(?<!\\)(\*\*|__)(?=\S)(.+?)(?<=\S)(?<!\\)\1")
_EM_STAR = re.compile(r"(?<![\\*])\*(?=[^\s*])(.+?)(?<=[^\s\\*])\*(?!\*)")
_EM_UNDERSCORE = re.compile(r"(?<![\w\\])_(?=\S)(.+?)(?<=\S)_(?!\w)")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def _clean_markup(text: str) -> str:
    text = _AUTOLINK.sub(r"\1", text)
    text = _TAG.sub(lambda tag: " " if tag.group().lower().startswith("<br") else "", text)
    text = _FOOTNOTE.sub("", text)
    text = _STRONG.sub(r"\2", text)
    text = _STRIKE.sub(r"\1", text)
    text = _EM_STAR.sub(r"\1", text)
    text = _EM_UNDERSCORE.sub(r"\1", text)
    return html.unescape(_ESCAPE.sub(r"\1", text))


def _clean_inline(text: str) -> str:
    """Markdown inline markup reduced to its text: links to their words, images gone, emphasis and code marks off."""
    text = _LINK.sub(r"\1", _IMAGE.sub("", text))
    # Code spans keep their text as written: markup characters inside them are not markup.
    parts: list[str] = []
    start = 0
    for code in _CODE_SPAN.finditer(text):
        parts += [_clean_markup(text[start : code.start()]), code.group(2).strip()]
        start = code.end()
    parts.append(_clean_markup(text[start:]))
    return _collapse("".join(parts))


def _unquote(line: str) -> tuple[str, bool]:
    quoted = False
    while marker := _QUOTE.match(line):
        line, quoted = line[marker.end() :], True
    return line, quoted


def _cells(row: str) -> list[str]:
    row = row.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return [cell.strip() for cell in _CELL_SEPARATOR.split(row)]


def _is_table_rule(line: str) -> bool:
    return "|" in line and _TABLE_RULE.fullmatch(line) is not None


def _markdown_sections(text: str) -> list[_Section]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if front := _FRONT_MATTER.match(text):
        text = text[front.end() :]
    lines = [_unquote(line) for line in _COMMENT.sub("", text).split("\n")]
    doc = _Builder(_clean_inline)
    fence: str | None = None
    quoted = in_table = False
    # A blank line inside a list ends it only when what follows is neither an item nor indented under one.
    list_gap = False
    list_marker, list_indent = "", 0
    for i, (line, is_quote) in enumerate(lines):
        if fence is not None:
            closing = _FENCE.match(line)
            if closing and closing.group(1).startswith(fence) and not line[closing.end() :].strip():
                fence = None
            continue
        if is_quote != quoted or (in_table and "|" not in line):
            doc.end_block()
            quoted, in_table = is_quote, False
        if not line.strip():
            if doc.in_list:
                list_gap = True
            else:
                doc.end_block()
                in_table = False
            continue
        if list_gap:
            list_gap = False
            if not (_ITEM.fullmatch(line) or line.startswith((" ", "\t"))):
                doc.end_block()
        if opening := _FENCE.match(line):
            doc.end_block()
            fence = opening.group(1)
        elif heading := _ATX.fullmatch(line):
            doc.heading(len(heading.group(1)), _clean_inline(heading.group(2) or ""))
        elif doc.in_paragraph and (underline := _SETEXT.fullmatch(line)):
            doc.heading(1 if underline.group(1).startswith("=") else 2, doc.take_paragraph())
        elif _BREAK.fullmatch(line):
            doc.end_block()
        elif _REFERENCE.fullmatch(line):
            pass  # a reference link's target, not text
        elif in_table or ("|" in line and i + 1 < len(lines) and _is_table_rule(lines[i + 1][0])):
            if not in_table:
                doc.end_block()
                in_table = True
            if not _is_table_rule(line):
                doc.add_row(_cells(line))
        elif (item := _ITEM.fullmatch(line)) and (
            # Only a list that starts at 1 may interrupt a paragraph: "2019. It was restored" is a wrapped line.
            doc.in_list or not doc.in_paragraph or item.group(1) in "-*+" or item.group(1)[:-1] == "1"
        ):
            marker, indent = item.group(1)[-1], len(line) - len(line.lstrip())
            # Another marker at the list's own depth starts another list ("- a" then "1. b"), not a nested one.
            if doc.in_list and indent <= list_indent and marker != list_marker:
                doc.end_block()
            if not doc.in_list:
                list_marker, list_indent = marker, indent
            doc.add_item(item.group(2) or "")
        elif doc.in_list:
            doc.continue_item(line.strip())
        else:
            doc.add_text(line.strip())
    doc.end_block()
    return doc.sections


# --- HTML ------------------------------------------------------------------------------------------------------------

_SKIPPED = frozenset({"script", "style", "nav", "header", "footer", "noscript", "template"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_LISTS = frozenset({"ul", "ol", "menu"})
_CELLS = frozenset({"td", "th"})
# fmt: off
_BLOCKS = frozenset({
    "p", "div", "pre", "blockquote", "dd", "dt", "dl", "section", "article", "main", "aside", "figure",
    "figcaption", "address", "details", "summary", "form", "fieldset", "caption", "hr", "body",
})
# fmt: on


class _HTMLDocument(HTMLParser):
    """An HTML page's sections: its text by block element, under the h1-h6 headings."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = _Builder(_collapse)
        self.title: list[str] = []
        self.has_h1 = False
        self._skipping = 0
        self._in_title = False
        self._heading: int | None = None
        self._heading_text: list[str] = []
        self._text: list[str] = []
        self._lists: list[bool] = []  # per open list, whether one of its items is open
        self._tables = 0
        self._row: list[str] | None = None
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif self._skipping:
            return
        elif tag == "br":
            self._sink().append(" ")
        elif tag == "title":
            self._in_title = True
        elif self._heading is not None:
            return
        elif tag in _HEADINGS:
            self._flush()
            self._heading, self._heading_text = int(tag[1]), []
        elif tag == "li":
            self._flush()
            if not self._lists:
                self._lists.append(False)
            self._lists[-1] = True
        elif tag in _LISTS:
            self._flush()
            self._end_block()
            self._lists.append(False)
        elif tag == "table":
            self._flush()
            self._end_block()
            self._tables += 1
        elif tag == "tr":
            self._flush()
            self._end_row()
            self._row = []
        elif tag in _CELLS:
            self._flush()
            self._in_cell = True
        elif tag in _BLOCKS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif self._skipping:
            return
        elif tag == "title":
            self._in_title = False
        elif self._heading is not None:
            if tag in _HEADINGS:
                title = _collapse("".join(self._heading_text))
                self.has_h1 = self.has_h1 or (self._heading == 1 and bool(title))
                self.builder.heading(self._heading, title)
                self._heading = None
        elif tag == "li":
            self._flush()
            if self._lists:
                self._lists[-1] = False
        elif tag in _LISTS:
            self._flush()
            if self._lists:
                self._lists.pop()
            self._end_block()
        elif tag in _CELLS:
            self._flush()
            self._in_cell = False
        elif tag == "tr":
            self._flush()
            self._end_row()
        elif tag == "table":
            self._flush()
            self._end_row()
            self._tables = max(0, self._tables - 1)
            self._end_block()
        elif tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._sink().append(data)

    def close(self) -> None:
        super().close()
        self._flush()
        self._end_row()
        self.builder.end_block()

    def _sink(self) -> list[str]:
        if self._in_title:
            return self.title
        return self._text if self._heading is None else self._heading_text

    def _flush(self) -> None:
        text, self._text = "".join(self._text), []
        if not text.strip():
            return
        if self._in_cell and self._row is not None:
            self._row.append(text)
        elif self._lists and self._lists[-1]:
            self.builder.add_item(text)
        else:
            self.builder.add_text(text)

    def _break(self) -> None:
        # Paragraphs inside a list item or a table cell belong to that item or cell.
        if self._in_cell or (self._lists and self._lists[-1]):
            self._text.append(" ")
        else:
            self._flush()
            self._end_block()

    def _end_block(self) -> None:
        # A nested list or table, or a block inside one, continues the outer list or table.
        if not self._lists and not self._tables:
            self.builder.end_block()

    def _end_row(self) -> None:
        if self._row:
            self.builder.add_row(self._row)
        self._row, self._in_cell = None, False


def _html_sections(text: str) -> list[_Section]:
    page = _HTMLDocument()
    page.feed(text)
    page.close()
    title = _collapse("".join(page.title))
    if title and not page.has_h1:
        return [((title, *path), paragraphs) for path, paragraphs in page.builder.sections]
    return page.builder.sections


# --- Chunks ----------------------------------------------------------------------------------------------------------


def _words(sentences: list[str]) -> int:
    return sum(len(sentence.split()) for sentence in sentences)


def _cut(sentence: str, max_words: int) -> list[str]:
    words = sentence.split()
    return [" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words)]


def _pack(paragraphs: list[list[str]], settings: ChunkingSettings) -> list[str]:
    """A section's passages: whole paragraphs while they fit, else sentence by sentence, each after the first opening
    with the last sentences of the one before (as many as fit next to one new sentence)."""
    limit, overlap = settings.max_words, settings.overlap_sentences
    passages: list[list[str]] = []
    current: list[str] = []
    new = 0  # sentences in `current` that are not repeated from the passage before
    for paragraph in paragraphs:
        sentences = [piece for sentence in paragraph for piece in _cut(sentence, limit)]
        if new and _words(current) + _words(sentences) > limit:
            passages.append(current)
            current, new = current[-overlap:] if overlap else [], 0
        for sentence in sentences:
            size = len(sentence.split())
            if new and _words(current) + size > limit:
                passages.append(current)
                current, new = current[-overlap:] if overlap else [], 0
            while current and _words(current) + size > limit:
                current = current[1:]
            current, new = [*current, sentence], new + 1
    if new:
        passages.append(current)
    return [" ".join(passage) for passage in passages]


def _chunks(sections: list[_Section], source: str, settings: ChunkingSettings) -> list[Chunk]:
    chunks: list[Chunk] = []
    for path, paragraphs in sections:
        heading = HEADING_SEPARATOR.join(path) or None
        for passage in _pack(paragraphs, settings):
            chunks.append(Chunk(text=passage, source=source, heading=heading, position=len(chunks)))
    return chunks


def chunk_markdown(text: str, source: str, settings: ChunkingSettings = ChunkingSettings()) -> list[Chunk]:
    """Chunks of a Markdown document, under its ATX and setext headings; markup, code blocks and front matter gone."""
    return _chunks(_markdown_sections(text), source, settings)


def chunk_text(text: str, source: str, settings: ChunkingSettings = ChunkingSettings()) -> list[Chunk]:
    """Chunks of a plain-text document: paragraphs at blank lines, no headings."""
    blocks = _BLANK_LINE.split(text.replace("\r\n", "\n"))
    paragraphs = [sentences for block in blocks if (sentences := split_sentences(block))]
    return _chunks([((), paragraphs)], source, settings)


def chunk_html(text: str, source: str, settings: ChunkingSettings = ChunkingSettings()) -> list[Chunk]:
    """Chunks of an HTML page, under its h1-h6 headings (the title on top when there is no h1); scripts, styles,
    navigation, headers and footers left out."""
    return _chunks(_html_sections(text), source, settings)


_CHUNKERS: dict[str, Callable[[str, str, ChunkingSettings], list[Chunk]]] = {
    "markdown": chunk_markdown,
    "text": chunk_text,
    "html": chunk_html,
}


def _unsupported(path: Path) -> UnsupportedDocumentError:
    return UnsupportedDocumentError(f"{path}: unsupported document type (supported: {', '.join(SUFFIXES)})")


def chunk_file(path: Path, source: str | None = None, settings: ChunkingSettings = ChunkingSettings()) -> list[Chunk]:
    """Chunks of a file, by its suffix; `source` defaults to the path as given."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise _unsupported(path)
    # utf-8-sig: a byte-order mark, which some editors write, is not text.
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    return _CHUNKERS[kind](text, path.as_posix() if source is None else source, settings)


def find_documents(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """The supported documents at `paths`, each with its source name: a file as given, by its name (it must be
    supported); a directory's supported files at any depth, hidden ones left out, by their path under it, sorted.

    A file reached twice (a directory and a file in it) is listed once, the first time.
    """
    documents: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(file: Path, source: str) -> None:
        if (resolved := file.resolve()) not in seen:
            seen.add(resolved)
            documents.append((file, source))

    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or directory: {path}")
        if not path.is_dir():
            if path.suffix.lower() not in SUFFIXES:
                raise _unsupported(path)
            add(path, path.name)
            continue
        found: list[tuple[str, Path]] = []
        for folder, dirs, files in os.walk(path):
            dirs[:] = [name for name in dirs if not name.startswith(".")]
            for name in files:
                file = Path(folder) / name
                if not name.startswith(".") and file.suffix.lower() in SUFFIXES:
                    found.append((file.relative_to(path).as_posix(), file))
        for source, file in sorted(found):
            add(file, source)
    return documents
