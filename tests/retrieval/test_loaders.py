from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.errors import CorruptFile, MissingPath, UnsupportedFile
from retrieval.loaders import check_paths, discover, load_file


def test_markdown_title_from_first_heading_and_metadata(tmp_path: Path) -> None:
    page = tmp_path / "vpn-setup.md"
    page.write_text("Intro line\n\n# VPN setup\n\nUse WireGuard.\n")
    [doc] = load_file(page)
    assert doc.title == "VPN setup"
    assert doc.location == str(page) and doc.doc_id == str(page)
    assert doc.updated is not None and doc.metadata["format"] == "markdown"
    assert "Use WireGuard." in doc.text


def test_plain_text_title_from_file_name(tmp_path: Path) -> None:
    page = tmp_path / "coffee_rules.txt"
    page.write_text("Clean the mug.")
    [doc] = load_file(page)
    assert doc.title == "coffee rules" and doc.text == "Clean the mug."


def test_html_keeps_main_text_and_headings_drops_navigation(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Expenses</title><script>var x=1;</script></head><body>"
        "<nav><a href='/'>Home</a> <a href='/menu'>MenuLinkText</a></nav>"
        "<main><h1>Expenses</h1><p>Submit receipts within <b>30 days</b>.</p><h2>Travel</h2><ul><li>Book trains in advance.</li></ul></main>"
        "<footer>Copyright FooterText</footer></body></html>"
    )
    [doc] = load_file(page)
    assert doc.title == "Expenses"
    assert "# Expenses" in doc.text and "## Travel" in doc.text
    assert "Submit receipts within 30 days ." in doc.text or "Submit receipts within 30 days." in doc.text
    assert "Book trains in advance." in doc.text
    for noise in ("MenuLinkText", "FooterText", "var x"):
        assert noise not in doc.text


def test_pdf_text_layer(tmp_path: Path, pdf_bytes) -> None:
    page = tmp_path / "policy.pdf"
    page.write_bytes(pdf_bytes(["Laptops are replaced every four years.", "Ask IT for a loaner."]))
    [doc] = load_file(page)
    assert "Laptops are replaced every four years." in doc.text
    assert doc.metadata["format"] == "pdf" and doc.title == "policy"


def test_corrupt_pdf_is_reported_by_name(tmp_path: Path) -> None:
    page = tmp_path / "broken.pdf"
    page.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    with pytest.raises(CorruptFile, match="broken.pdf"):
        load_file(page)


def test_windows_1252_text_is_read_not_refused(tmp_path: Path) -> None:
    """What Western Windows tools save as "ANSI": accents, curly quotes, dashes, the euro sign."""
    page = tmp_path / "menu.md"
    page.write_bytes("# Caf\u00e9 rules\n\nThe \u201cr\u00e9sum\u00e9\u201d costs 5 \u20ac \u2014 na\u00efve.\n".encode("cp1252"))
    (doc,) = load_file(page)
    assert doc.title == "Caf\u00e9 rules" and "The \u201cr\u00e9sum\u00e9\u201d costs 5 \u20ac \u2014 na\u00efve." in doc.text


@pytest.mark.parametrize(
    "text, encoding",
    [("\u041b\u0438\u043c\u0438\u0442 \u043d\u0430 \u0433\u043e\u0441\u0442\u0438\u043d\u0438\u0446\u0443 150 \u0435\u0432\u0440\u043e \u0432 \u0441\u0443\u0442\u043a\u0438. "
      "\u041e\u0442\u043f\u0443\u0441\u043a 28 \u0434\u043d\u0435\u0439.", "cp1251"),  # Cyrillic, not "\u00cb\u00e8\u00ec..."
     ("Za\u017c\u00f3\u0142\u0107 g\u0119\u015bl\u0105 ja\u017a\u0144. Limit hotelowy 150 euro.", "cp1250"),
     ("Die Gr\u00f6\u00dfe der B\u00fcros ist f\u00fcr alle gleich. Stra\u00dfe.", "cp1252"),
     ("caf\u00e9", "latin-1")],
)
def test_legacy_code_pages_are_told_apart(tmp_path: Path, text: str, encoding: str) -> None:
    page = tmp_path / "legacy.txt"
    page.write_bytes(text.encode(encoding))
    (doc,) = load_file(page)
    assert doc.text == text


def test_utf8_with_a_stray_byte_keeps_its_accents(tmp_path: Path) -> None:
    """One pasted Windows quote used to turn every other accent into mojibake."""
    page = tmp_path / "mixed.txt"
    page.write_bytes("Caf\u00e9 policy \u2014 the limit is 50 \u20ac per day.".encode() + b" Smart \x93quote\x94 here.")
    (doc,) = load_file(page)
    assert doc.text == "Caf\u00e9 policy \u2014 the limit is 50 \u20ac per day. Smart \ufffdquote\ufffd here."


def test_binary_without_nul_bytes_is_still_corrupt(tmp_path: Path) -> None:
    page = tmp_path / "blob.txt"
    page.write_bytes(bytes((i * 37 + 11) % 255 + 1 for i in range(4000)))  # every byte value but 0, cp1252's holes included
    with pytest.raises(CorruptFile, match="blob.txt: not valid UTF-8"):
        load_file(page)
    page.write_bytes(bytes((i * 37 + 11) % 32 + 1 for i in range(4000)) + "caf\u00e9".encode("cp1252"))  # control bytes
    with pytest.raises(CorruptFile, match="blob.txt"):
        load_file(page)


def test_squad_paragraph_ids(tmp_path: Path) -> None:
    data = {"version": "v2.0", "data": [
        {"title": "Super_Bowl", "paragraphs": [{"context": "First paragraph.", "qas": []}, {"context": "Second one.", "qas": []}]},
        {"title": "Oxygen", "paragraphs": [{"context": "O2 is a gas.", "qas": []}]},
    ]}
    file = tmp_path / "kb.json"
    file.write_text(json.dumps(data))
    docs = load_file(file)
    assert [d.doc_id for d in docs] == ["Super_Bowl#0", "Super_Bowl#1", "Oxygen#0"]
    assert docs[1].title == "Super Bowl" and docs[1].text == "Second one."
    assert docs[1].location == f"{file}#Super_Bowl#1"


def test_json_that_is_not_squad_is_unsupported(tmp_path: Path) -> None:
    file = tmp_path / "config.json"
    file.write_text('{"a": 1}')
    with pytest.raises(UnsupportedFile, match="SQuAD"):
        load_file(file)


def test_check_paths_errors(tmp_path: Path) -> None:
    with pytest.raises(MissingPath, match="nope"):
        check_paths([tmp_path / "nope"])
    (tmp_path / "a.docx").write_text("x")
    with pytest.raises(UnsupportedFile, match="a.docx"):
        check_paths([tmp_path / "a.docx"])


def test_folder_walk_skips_hidden_and_lists_unsupported(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\ntext")
    (tmp_path / "b.docx").write_text("ignored")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.md").write_text("# C")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.pdf").write_bytes(b"garbage")
    found = discover(check_paths([tmp_path]))
    assert [f.relative_to(tmp_path) for f, _ in found.files] == [Path("a.md"), Path("sub/bad.pdf")]
    assert [f.name for f in found.ignored] == ["b.docx"] and not found.problems
    with pytest.raises(CorruptFile, match="bad.pdf"):
        load_file(tmp_path / "sub" / "bad.pdf")


def test_broken_link_and_unlistable_folder_are_problems_not_silence(tmp_path: Path, unlistable) -> None:
    (tmp_path / "a.md").write_text("# A\n\ntext")
    (tmp_path / "gone.md").symlink_to(tmp_path / "missing.md")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "b.md").write_text("# B")
    unlistable(locked)
    found = discover([tmp_path])
    assert [f.name for f, _ in found.files] == ["a.md"]
    assert found.problems == {tmp_path / "gone.md": "broken link", locked: "cannot read folder (Permission denied)"}


def test_a_file_named_twice_is_found_once(tmp_path: Path) -> None:
    """`ingest docs docs/vpn.md` reported the second as a clashing document id and exited 1."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text("# VPN\n\ntext")
    found = discover(check_paths([docs, docs / "vpn.md", tmp_path / "docs" / "." ]))
    assert [f.name for f, _ in found.files] == ["vpn.md"]


def test_utf16_text_with_bom_is_read(tmp_path: Path) -> None:
    page = tmp_path / "notes.txt"
    page.write_bytes("Windows notes: caf\u00e9.".encode("utf-16"))
    [doc] = load_file(page)
    assert doc.text == "Windows notes: caf\u00e9."


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"data": [1]}', "article 0 is not a SQuAD article"),
        ('{"data": [{"title": "X", "paragraphs": [{"context": 5}]}]}', "'X', paragraph 0: 'context' is not text"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_squad_is_corrupt_with_a_reason(tmp_path: Path, body: str, message: str) -> None:
    file = tmp_path / "kb.json"
    file.write_text(body)
    with pytest.raises(CorruptFile, match=message):
        load_file(file)


def test_html_keeps_loose_text_every_article_and_tables_as_rows(tmp_path: Path) -> None:
    """Text outside <p>/<li>, a <div> beside a nested <div>, and a second <article> were lost."""
    page = tmp_path / "office.html"
    page.write_text(
        "<html><head><title>index</title></head><body>"
        "<div id='cookie-banner' class='cookie-consent'>We use cookies. Accept all?</div>"
        "<div class='sidebar'>Popular pages TrendingWidget</div>"
        "<article><h1>Office guide</h1>A VPN profile is valid for 90 days.<br>Renew it early."
        "<div><span>The dishwasher runs at 18:00.</span><div><p>The fridge is emptied on Fridays.</p></div></div>"
        "<table><tr><th>Platform</th><th>Client</th></tr><tr><td>Linux</td><td>wg-quick</td></tr></table>"
        "<pre>def reimburse(amount):\n    return amount * 0.9</pre></article>"
        "<article><h2>Licenses</h2><p>Licenses are approved by procurement.</p></article>"
        "<div id='site-footer'>Copyright ACME FooterText</div></body></html>"
    )
    [doc] = load_file(page)
    assert doc.title == "Office guide"  # the page's <h1>, not a <title> of "index"
    for kept in ("A VPN profile is valid for 90 days.", "The dishwasher runs at 18:00.", "The fridge is emptied on Fridays.",
                 "| Linux | wg-quick |", "    return amount * 0.9", "## Licenses", "Licenses are approved by procurement."):
        assert kept in doc.text
    for dropped in ("cookies", "TrendingWidget", "FooterText"):
        assert dropped not in doc.text
    assert doc.text.count("wg-quick") == 1


def test_html_honours_the_declared_charset_and_strips_the_site_from_the_title(tmp_path: Path) -> None:
    page = tmp_path / "CAFE.HTM"
    page.write_bytes('<html><head><meta charset="windows-1252"><title>Café menu | ACME Intranet</title></head>'
                     '<body><p>Crème brûlée on Fridays for 3€.</p></body></html>'.encode("cp1252"))
    [doc] = load_file(page)
    assert doc.title == "Café menu" and "Crème brûlée on Fridays for 3€." in doc.text


def test_markdown_front_matter_setext_headings_and_code_comments(tmp_path: Path) -> None:
    """The title came from a ``# comment`` in a code block; front matter was searchable text and
    its title ignored; underlined headings were not headings."""
    page = tmp_path / "onboarding.md"
    page.write_text(
        "---\ntitle: Engineer onboarding\nowner: platform\n---\n"
        "```bash\n# install the toolchain first\nbrew bundle\n```\n\n"
        "Expenses\n========\n\nMeals are covered up to 35 EUR.\n\nTravel\n------\n\nTrains are reimbursed.\n"
    )
    [doc] = load_file(page)
    assert doc.title == "Engineer onboarding"
    assert "owner: platform" not in doc.text and "# Expenses" in doc.text and "## Travel" in doc.text
    untitled = tmp_path / "notes.md"
    untitled.write_text("```sh\n# run as root\nmake\n```\n\nSetext title\n===\n\nBody.\n")
    assert load_file(untitled)[0].title == "Setext title"
    rule = tmp_path / "rule.md"
    rule.write_text("---\n\nNot front matter, a rule.\n\n---\n")
    assert "Not front matter" in load_file(rule)[0].text


def test_pdf_title_written_by_office_tools_is_not_used(tmp_path: Path, pdf_bytes) -> None:
    import io

    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(pdf_bytes(["Trains are booked in the travel portal."])))
    writer.add_metadata({"/Title": "Microsoft Word - travel_v3_FINAL.docx"})
    path = tmp_path / "travel-policy.pdf"
    with path.open("wb") as out:
        writer.write(out)
    assert load_file(path)[0].title == "travel policy"


def test_symlinked_folders_are_walked_once(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "real").mkdir(parents=True)
    (docs / "real" / "a.md").write_text("# A\n\ntext\n")
    (docs / "other").mkdir()
    (docs / "other" / "b.md").write_text("# B\n\ntext\n")
    (docs / "real" / "linked").symlink_to(docs / "other")
    (docs / "real" / "loop").symlink_to(docs)  # points back up the tree
    found = discover([docs])
    assert sorted(f.name for f, _ in found.files) == ["a.md", "b.md"]
    assert any("already walked" in why for why in found.problems.values())


def test_links_out_of_the_folder_are_reported_not_followed(tmp_path: Path) -> None:
    """A wiki author's committed link to a secrets file (or to /) put it in the knowledge base."""
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    docs.mkdir()
    outside.mkdir()
    (docs / "a.md").write_text("# A\n\ntext\n")
    (outside / "prod.env").write_text("SLACK_SIGNING_SECRET=8f14e45fceea167a\n")
    (outside / "b.md").write_text("# B\n\ntext\n")
    (docs / "runbook.txt").symlink_to(outside / "prod.env")
    (docs / "shared").symlink_to(outside)
    found = discover([docs])
    assert [f.name for f, _ in found.files] == ["a.md"]
    assert found.problems[docs / "runbook.txt"].startswith("links outside") and found.problems[docs / "shared"].startswith("links outside")
    assert sorted(f.name for f, _ in discover([outside / "b.md"]).files) == ["b.md"]  # named on its own: taken


def test_a_page_title_of_many_spaces_is_read_in_linear_time(tmp_path: Path) -> None:
    import time

    page = tmp_path / "p.html"
    page.write_text("<html><head><title>a" + " " * 40_000 + "b</title></head><body><p>text here</p></body></html>")
    began = time.perf_counter()
    load_file(page)
    assert time.perf_counter() - began < 2  # 10 s before the title was capped


def test_two_articles_with_one_title_are_refused_by_evaluations(tmp_path: Path) -> None:
    """'<title>#<n>' ids collided: one paragraph replaced the other and evaluations judged against
    the lost one (ingest stores the first and reports the second: tests/retrieval/test_ingest.py)."""
    from adapters.finetune.squad import load_squad
    from retrieval.evaluation import squad_questions

    data = {"data": [{"title": "Oxygen", "paragraphs": [{"context": "O2 is a gas.", "qas": []}]},
                     {"title": "Oxygen", "paragraphs": [{"context": "Ozone is O3.", "qas": []}]}]}
    file = tmp_path / "merged.json"
    file.write_text(json.dumps(data))
    for load in (load_squad, squad_questions):
        with pytest.raises(Exception, match="articles 0 and 1 have the same title 'Oxygen'"):
            load(file)
