"""Structure-aware chunking: sections by heading, then token-measured recursive splits.

Parent-child: a section (capped at ``parent_max_chars``) is the parent the generator sees;
its small children are what gets embedded and searched. Lengths are counted with the
embedding model's own tokenizer, so a child never overflows the model's window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.hashing import content_hash
from retrieval.types import Chunk, Document

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass
class Section:
    path: list[str]  # heading trail, outermost first
    text: str


def split_sections(text: str) -> list[Section]:
    """Split Markdown-like text at ATX headings (outside code fences); heading lines stay in the text."""
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    lines: list[str] = []
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
            flush()
            lines = []
            level = len(match.group(1))
            trail = [(lvl, title) for lvl, title in trail if lvl < level]
            trail.append((level, match.group(2).strip()))
        lines.append(line)
    flush()
    return sections


class Chunker:
    """Documents to parent sections to child chunks."""

    def __init__(self, tokenizer, chunk_tokens: int, overlap_tokens: int, parent_max_chars: int) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        overlap = min(overlap_tokens, chunk_tokens // 2)
        self.child_splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
            tokenizer, chunk_size=chunk_tokens, chunk_overlap=overlap
        )
        self.parent_splitter = RecursiveCharacterTextSplitter(chunk_size=parent_max_chars, chunk_overlap=0)
        self.parent_max_chars = parent_max_chars

    def parents(self, document: Document) -> list[Section]:
        result = []
        for section in split_sections(document.text):
            if len(section.text) <= self.parent_max_chars:
                result.append(section)
            else:
                result.extend(Section(section.path, piece) for piece in self.parent_splitter.split_text(section.text))
        return result

    def chunk(self, document: Document) -> list[Chunk]:
        doc_hash = document_hash(document)
        chunks: list[Chunk] = []
        for p_index, parent in enumerate(self.parents(document)):
            parent_id = f"{document.doc_id}::p{p_index}"
            section = " > ".join(parent.path)
            for c_index, piece in enumerate(self.child_splitter.split_text(parent.text)):
                if not piece.strip():
                    continue
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


def document_hash(document: Document) -> str:
    return content_hash(document.title, document.text)


def embedding_text(chunk: Chunk) -> str:
    """What gets embedded: the title and section give a short child its context."""
    head = chunk.title if not chunk.section or chunk.section == chunk.title else f"{chunk.title} — {chunk.section}"
    return f"{head}\n{chunk.text}" if head else chunk.text
