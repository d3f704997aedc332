"""Structure-aware chunking: sections by heading, then token-measured recursive splits.

Parent-child: a section (capped at ``parent_max_chars``) is the parent the generator sees;
its small children are what gets embedded and searched. Lengths are counted with the
embedding model's own tokenizer, so a child never overflows the model's window.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from retrieval.hashing import content_hash
from retrieval.types import Chunk, Document

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass
class Section:
    path: list[str]  # heading trail, outermost first
    text: str


def split_sections(text: str) -> list[Section]:
    """Split Markdown-like text at ATX headings (outside code fences); heading lines stay in the text.

    A heading with nothing under it but a deeper heading (``## Laptops`` / ``### Ordering``) is
    not a section of its own: a passage of one heading line outranked the text it names. Its
    line leads the next section instead.
    """
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    lines: list[str] = []
    has_body = False
    in_fence = False

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            sections.append(Section([title for _, title in trail], body))

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            level = len(match.group(1))
            if has_body or not trail:
                flush()
                lines = []
            else:  # keep the empty headings this one sits under, drop an empty sibling
                lines = [kept for kept in lines if (m := _HEADING.match(kept)) and len(m.group(1)) < level]
            has_body = False
            trail = [(lvl, title) for lvl, title in trail if lvl < level]
            trail.append((level, match.group(2).strip()))
        elif line.strip():
            has_body = True
        lines.append(line)
    if has_body or not sections:
        flush()
    return sections


def token_counter(tokenizer) -> Callable[[str], int]:
    """How many tokens ``tokenizer`` makes of a text, as the splitter asks: the same count as
    ``len(tokenizer.tokenize(text))``, but straight from the Rust tokenizer when there is one,
    and remembered. The splitter measures the same pieces many times over (about 70 calls per
    chunk), and transformers' per-call overhead made chunking a quarter of a large ingest."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        def count(text: str) -> int:
            return len(tokenizer.tokenize(text))
    else:
        from tokenizers import Tokenizer

        backend = Tokenizer.from_str(backend.to_str())  # a copy without the model's truncation and padding
        backend.no_truncation()
        backend.no_padding()

        def count(text: str) -> int:
            return len(backend.encode(text, add_special_tokens=False).ids)
    return lru_cache(maxsize=65_536)(count)


class Chunker:
    """Documents to parent sections to child chunks."""

    def __init__(self, tokenizer, chunk_tokens: int, overlap_tokens: int, parent_max_chars: int) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        overlap = min(overlap_tokens, chunk_tokens // 2)
        # The splitter measures whole sections with the tokenizer; transformers then warns that
        # they are longer than the model's window, which only the children must fit.
        logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)
        self.child_splitter = RecursiveCharacterTextSplitter(
            length_function=token_counter(tokenizer), chunk_size=chunk_tokens, chunk_overlap=overlap
        )
        self.parent_splitter = RecursiveCharacterTextSplitter(chunk_size=parent_max_chars, chunk_overlap=0)
        self.parent_max_chars = parent_max_chars

    def parents(self, document: Document) -> list[Section]:
        result = []
        for section in split_sections(document.text):
            if len(section.text) <= self.parent_max_chars:
                result.append(section)
            else:
                result.extend(Section(section.path, piece) for piece in self._split_parent(section.text))
        return result

    def _split_parent(self, text: str) -> list[str]:
        """Pieces of a long section, each led by the section's heading (later pieces had none)."""
        first, _, rest = text.partition("\n")
        if not _HEADING.match(first) or len(first) > self.parent_max_chars // 4:
            return self.parent_splitter.split_text(text)
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        room = self.parent_max_chars - len(first) - 2
        return [f"{first}\n\n{piece}" for piece in RecursiveCharacterTextSplitter(chunk_size=room, chunk_overlap=0).split_text(rest.strip())]

    def chunk(self, document: Document) -> list[Chunk]:
        doc_hash = document_hash(document)
        chunks: list[Chunk] = []
        for p_index, parent in enumerate(self.parents(document)):
            parent_id = f"{document.doc_id}::p{p_index}"
            section = " > ".join(parent.path)
            pieces = [piece for piece in self.child_splitter.split_text(parent.text) if piece.strip()]
            if len(pieces) > 1:  # a heading split off a long first paragraph: title and section already lead every child's embedding
                pieces = [piece for piece in pieces if not _HEADING.fullmatch(piece.strip())]
            pieces = [_with_table_header(piece, parent.text) for piece in pieces]
            for c_index, piece in enumerate(pieces):
                chunks.append(
                    Chunk(
                        chunk_id=f"{parent_id}::c{c_index}",
                        doc_id=document.doc_id,
                        title=document.title,
                        location=document.location,
                        text=piece,
                        parent_id=parent_id,
                        parent_text=parent.text,
                        section=section,
                        content_hash=doc_hash,
                        updated=document.updated.isoformat() if document.updated else "",
                    )
                )
        return chunks


_TABLE_HEADER = re.compile(r"^(\|[^\n]*\|)[ \t]*\n(\|[ \t]*:?-{2,}[-:| \t]*\|)[ \t]*$", re.MULTILINE)


def _with_table_header(piece: str, parent_text: str) -> str:
    """A child holding only rows of a Markdown table gets the table's header rows first: "| public
    API | Wednesday | Tuesday 16:00 |" alone says nothing of which column is the freeze."""
    if not piece.lstrip().startswith("|"):
        return piece
    at = parent_text.find(piece.strip().splitlines()[0])
    headers = [m for m in _TABLE_HEADER.finditer(parent_text) if m.start() <= at]
    if not headers or headers[-1].group(1) in piece:
        return piece
    return f"{headers[-1].group(1)}\n{headers[-1].group(2)}\n{piece.lstrip()}"


# Part of every document's hash: a change to how documents are loaded or split makes the next
# ingest re-chunk every document, instead of keeping the old pieces of unchanged files forever.
LAYOUT_VERSION = "3"  # 3: table rows split from their header get it back


def document_hash(document: Document) -> str:
    return content_hash(LAYOUT_VERSION, document.title, document.text)


def embedding_text(chunk: Chunk) -> str:
    """What gets embedded: the title and section give a short child its context."""
    head = chunk.title if not chunk.section or chunk.section == chunk.title else f"{chunk.title} — {chunk.section}"
    return f"{head}\n{chunk.text}" if head else chunk.text
