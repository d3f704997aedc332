from __future__ import annotations

import pytest

from retrieval.chunking import Chunker, embedding_text, split_sections
from retrieval.types import Document


def test_sections_follow_headings_and_ignore_code_fences() -> None:
    text = "# Guide\nintro\n## Install\nstep one\n```\n# not a heading\n```\n### Linux\napt\n## Use\nrun it\n"
    sections = split_sections(text)
    assert [s.path for s in sections] == [["Guide"], ["Guide", "Install"], ["Guide", "Install", "Linux"], ["Guide", "Use"]]
    assert "# not a heading" in sections[1].text
    assert sections[2].text.startswith("### Linux")


def test_text_without_headings_is_one_section() -> None:
    [section] = split_sections("just\nplain text")
    assert section.path == [] and section.text == "just\nplain text"


@pytest.mark.slow
def test_children_fit_the_token_budget_and_point_to_their_parent(embedder) -> None:
    body = " ".join(f"Sentence {i} says that the VPN token number {i} expires after ninety days." for i in range(60))
    doc = Document(doc_id="d1", title="VPN", text=f"# VPN\n\n{body}\n\n## Short\n\nTiny section.", location="vpn.md")
    chunker = Chunker(embedder.tokenizer, chunk_tokens=64, overlap_tokens=8, parent_max_chars=1500)
    chunks = chunker.chunk(doc)
    assert len(chunks) > 5
    assert all(embedder.count_tokens(c.text) <= 64 for c in chunks)
    for chunk in chunks:
        assert chunk.text in chunk.parent_text and len(chunk.parent_text) <= 1500
        assert chunk.parent_id in chunk.chunk_id and chunk.doc_id == "d1"
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    short = [c for c in chunks if "Tiny section." in c.text]
    assert short and short[0].section == "VPN > Short"
    assert embedding_text(short[0]).startswith("VPN — VPN > Short\n")
    assert len({c.content_hash for c in chunks}) == 1
    assert all(c.updated == "" for c in chunks)  # this document has no modification time


def test_a_heading_with_only_subheadings_leads_the_next_section() -> None:
    """``## Laptops`` / ``### Ordering`` made two one-line passages that outranked the answer."""
    sections = split_sections("## Laptops\n\n### Ordering\n\n#### Apple\n\nOrder a MacBook in the portal.\n### Returns\nBring it back.\n")
    assert [s.path for s in sections] == [["Laptops", "Ordering", "Apple"], ["Laptops", "Returns"]]
    assert sections[0].text.startswith("## Laptops\n### Ordering\n#### Apple") and "MacBook" in sections[0].text
    assert [s.path for s in split_sections("# A\n## Empty\n## C\ntext")] == [["A", "C"]]  # an empty sibling is dropped
    assert [s.text for s in split_sections("# Only a title")] == ["# Only a title"]


def test_every_piece_of_a_long_section_keeps_its_heading(embedder) -> None:
    body = " ".join(f"Sentence {i} says that the VPN token number {i} expires after ninety days." for i in range(60))
    chunker = Chunker(embedder.tokenizer, chunk_tokens=64, overlap_tokens=8, parent_max_chars=1500)
    chunks = chunker.chunk(Document(doc_id="d1", title="VPN", text=f"## Tokens\n\n{body}", location="vpn.md"))
    parents = {c.parent_id: c.parent_text for c in chunks}
    assert len(parents) > 1 and all(p.startswith("## Tokens\n\n") and len(p) <= 1500 for p in parents.values())
    assert not any(c.text.strip() == "## Tokens" for c in chunks)  # no child of the heading alone


def test_rows_of_a_table_split_over_several_children_keep_the_table_header(embedder) -> None:
    rows = "\n".join(f"| service {i} | {['Monday', 'Tuesday', 'Wednesday'][i % 3]} | Tuesday 16:{i:02d} |" for i in range(30))
    text = f"# Releases\n\nEvery service ships once a week.\n\n| Service | Release day | Freeze starts |\n|---|---|---|\n{rows}\n\nAsk #releases for exceptions."
    chunker = Chunker(embedder.tokenizer, chunk_tokens=48, overlap_tokens=12, parent_max_chars=4000)
    chunks = chunker.chunk(Document(doc_id="d1", title="Releases", text=text, location="releases.md"))
    with_rows = [c for c in chunks if "| service " in c.text]
    assert len(with_rows) > 3
    for chunk in with_rows:
        assert chunk.text.startswith("| Service | Release day | Freeze starts |\n|---|---|---|\n"), chunk.text
        assert chunk.text.count("| Service |") == 1
    assert not any(c.text.startswith("| Service") for c in chunks if "| service " not in c.text)


def test_the_fast_token_count_is_the_tokenizers_own_for_short_and_over_long_texts(embedder) -> None:
    """The splitter's length function skips transformers' per-call overhead; it must count as
    ``tokenize`` does, neither padded nor truncated to the model's window."""
    from retrieval.chunking import token_counter

    count = token_counter(embedder.tokenizer)
    texts = ["", "VPN", "Café naïve — 24/7 (R&D) résumé", "| public API | Wednesday | Tuesday 16:00 |", "word " * 900]
    assert [count(t) for t in texts] == [len(embedder.tokenizer.tokenize(t)) for t in texts]
    assert count("word " * 900) == 900
