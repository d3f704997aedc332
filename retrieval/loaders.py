"""Turn files into :class:`Document`s: Markdown, plain text, HTML, PDF and SQuAD 2.0 JSON.

Every loader returns whole documents with metadata (title, location, section path lives in
the chunks, updated time). A file that cannot be parsed raises :class:`CorruptFile`; a type
no loader knows raises :class:`UnsupportedFile`. Folders are walked (hidden entries skipped); a
folder that cannot be listed or a broken link is a reported problem, never silently nothing.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from retrieval.errors import CorruptFile, MissingPath, UnsupportedFile
from retrieval.squad import NotSquad, SquadFormatError, read_squad
from retrieval.types import Document

MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdx"}
TEXT_SUFFIXES = {".txt", ".text", ".rst"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
JSON_SUFFIXES = {".json"}
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | JSON_SUFFIXES

def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # what Windows tools write as "Unicode"
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise CorruptFile(f"{path.name}: not valid UTF-16 ({error.reason} at byte {error.start})") from None
    if b"\x00" in raw[:4096]:
        raise CorruptFile(f"{path.name}: binary content in a text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        text = _decode_legacy(raw)
        if text is None:
            raise CorruptFile(f"{path.name}: not valid UTF-8 ({error.reason} at byte {error.start}) and not text in "
                              "another encoding either") from None
        return text


def _decode_legacy(raw: bytes) -> str | None:
    """Text that is not valid UTF-8, decoded as best it can be; None for a binary file renamed .txt.

    - UTF-8 with a few stray bytes (no more than its well-formed multi-byte characters: a
      character pasted from another tool): UTF-8, the stray bytes shown as U+FFFD (decoding
      it all as Windows-1252 garbled every accent).
    - Else charset-normalizer's candidates of least "mess": Windows-1252 when it is one of them
      (what Western Windows tools save as "ANSI"), else its best guess when it recognised a
      language (Cyrillic in cp1251, ...), else Windows-1250 when that is one of them (it and 1252
      agree on most accented letters, and a short text gives the detector little to go on).
    """
    valid = len(_UTF8_MULTIBYTE.findall(raw))
    text = raw.decode("utf-8", errors="replace")
    stray = text.count("\ufffd")
    if valid and stray <= valid:
        return text if _mostly_text(text) else None
    import charset_normalizer

    matches = charset_normalizer.from_bytes(raw, cp_exclusion=_WIDE_ENCODINGS)  # a BOM-less UTF-16 guess is wrong here
    best = matches.best()
    if best is None:
        return None
    least_mess = {m.encoding for m in matches if m.chaos <= best.chaos}
    if "cp1252" in least_mess:
        encoding = "cp1252"
    elif best.coherence > 0 or "cp1250" not in least_mess:
        encoding = best.encoding
    else:
        encoding = "cp1250"
    text = raw.decode(encoding, errors="replace")
    return text if _mostly_text(text) else None


_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_WIDE_ENCODINGS = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le"]


def _mostly_text(text: str) -> bool:
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    return controls <= len(text) / 200


def _stem_title(path: Path) -> str:
    return path.stem.replace("-", " ").replace("_", " ")


def _file_document(path: Path, title: str, text: str, kind: str) -> Document:
    location = str(path)
    return Document(
        doc_id=location, title=title, text=text, location=location, updated=_mtime(path), metadata={"format": kind}
    )


def load_markdown(path: Path) -> list[Document]:
    """Markdown with its YAML front matter as metadata (``title:`` wins) and setext headings
    rewritten as ``#`` headings, so titles and section paths come from real headings only."""
    meta, text = _front_matter(_read_text(path))
    text, first_h1 = _atx_headings(text)
    title = meta.get("title") if isinstance(meta.get("title"), str) and meta["title"].strip() else first_h1
    return [_file_document(path, (title or "").strip() or _stem_title(path), text, "markdown")]


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE)


def _front_matter(text: str) -> tuple[dict, str]:
    """A leading ``---`` YAML block that parses to a mapping, and the text without it."""
    import yaml

    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}, text  # a thematic break and prose, not front matter
    return (meta, text[match.end():]) if isinstance(meta, dict) else ({}, text)


def _atx_headings(text: str) -> tuple[str, str]:
    """The text with top-level setext headings (underlined) written as ATX, and its first h1.

    Parsed with markdown-it, so a ``# comment`` in a code block is not a heading."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    lines = text.splitlines()
    first_h1 = ""
    rewrites: list[tuple[int, int, str]] = []
    for opening, inline in zip(tokens, tokens[1:]):
        if opening.type != "heading_open" or opening.level != 0 or not opening.map:
            continue
        words = " ".join("".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline")).split())
        if opening.tag == "h1" and not first_h1:
            first_h1 = words
        if opening.markup in ("=", "-"):
            start, end = opening.map
            rewrites.append((start, end, f"{'#' * int(opening.tag[1])} {inline.content.strip()}"))
    for start, end, heading in reversed(rewrites):
        lines[start:end] = [heading]
    return ("\n".join(lines) if rewrites else text), first_h1


def load_text(path: Path) -> list[Document]:
    text = _read_text(path)
    return [_file_document(path, _stem_title(path), text, "text")]


_HTML_DROP = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template", "svg", "iframe", "button", "dialog"]
_HTML_DROP_ROLES = ["navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alertdialog"]
# Page furniture that sites put in plain <div>s: a word of the id or class names it.
_HTML_FURNITURE = re.compile(r"(?:^|[-_\s])(cookies?|consent|gdpr|sidebar|breadcrumbs?|navbar|site-?footer|footer|skip-?link|social|share|advert|ads|newsletter)(?:$|[-_\s])", re.I)
MAX_TITLE_CHARS = 300  # a page title is short; the suffix pattern is quadratic on long whitespace runs
_TITLE_SUFFIX = re.compile(r"\s+[|\u2013\u2014·:-]\s+[^|\u2013\u2014·:-]+$")


def _furniture(tag) -> bool:
    if tag.attrs is None:
        return False
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true" or tag.get("role") in _HTML_DROP_ROLES:
        return True
    names = " ".join([tag.get("id") or "", *(tag.get("class") or [])])
    return bool(names.strip()) and bool(_HTML_FURNITURE.search(names))


def load_html(path: Path) -> list[Document]:
    """Main text only, as Markdown (headings, lists, tables and code kept; loose text too):
    navigation, banners, sidebars, footers and scripts dropped. The declared charset is honoured."""
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    raw = path.read_bytes()
    if b"\x00" in raw[:4096] and not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CorruptFile(f"{path.name}: binary content in an HTML file")
    soup = BeautifulSoup(raw, "html.parser")  # decodes by BOM, then <meta charset>, then a guess
    title_tag = soup.find("title")
    page_title = title_tag.get_text(" ", strip=True) if title_tag else ""
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for tag in soup.find_all(_furniture):
        tag.decompose()
    articles = soup.find_all("article")
    root = soup.find("main") or soup.find(attrs={"role": "main"}) or (articles[0] if len(articles) == 1 else None) or soup.body or soup
    converter = MarkdownConverter(heading_style="ATX", strip=["a", "img", "b", "strong", "em", "i", "u", "mark", "span"], escape_asterisks=False, escape_underscores=False, escape_misc=False)
    body = re.sub(r"\n{3,}", "\n\n", converter.convert_soup(root)).strip()
    h1 = root.find("h1")
    heading = " ".join(h1.get_text(" ", strip=True).split()) if h1 else ""
    title = heading or _TITLE_SUFFIX.sub("", page_title[:MAX_TITLE_CHARS]).strip() or _stem_title(path)
    return [_file_document(path, title, body, "html")]


# What office tools write as a PDF's title when nobody set one ("Microsoft Word - travel_v3.docx").
_MACHINE_TITLE = re.compile(r"^(microsoft \w+ - |untitled\b)|\.(docx?|pptx?|xlsx?|odt|rtf|pdf|txt)$", re.I)


def load_pdf(path: Path) -> list[Document]:
    """The PDF's text layer (scanned pages without one yield nothing and are reported)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs recoverable damage ("EOF marker not found") without the file's name; what
    # counts is the outcome, which the ingest report gives by name.
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    try:
        reader = PdfReader(str(path))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, OSError, TypeError) as error:
        raise CorruptFile(f"{path.name}: unreadable PDF ({type(error).__name__}: {error})") from None
    except Exception as error:  # pypdf raises assorted errors on damaged files
        raise CorruptFile(f"{path.name}: unreadable PDF ({type(error).__name__})") from None
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        raise CorruptFile(f"{path.name}: the PDF has no text layer")
    meta_title = str(meta_title).strip()
    return [_file_document(path, meta_title if meta_title and not _MACHINE_TITLE.search(meta_title) else _stem_title(path), text, "pdf")]


def load_squad(path: Path) -> list[Document]:
    """SQuAD 2.0: each paragraph becomes one document with id ``<title>#<paragraph index>``."""
    try:
        paragraphs = read_squad(path)
    except NotSquad as error:
        raise UnsupportedFile(str(error)) from None
    except SquadFormatError as error:
        raise CorruptFile(str(error)) from None
    updated = _mtime(path)
    return [
        Document(doc_id=p.doc_id, title=p.title.replace("_", " "), text=p.context, location=f"{path}#{p.doc_id}", updated=updated,
                 metadata={"format": "squad"})
        for p in paragraphs
        if p.context.strip()
    ]


LOADERS: dict[str, Callable[[Path], list[Document]]] = {
    **{s: load_markdown for s in MARKDOWN_SUFFIXES},
    **{s: load_text for s in TEXT_SUFFIXES},
    **{s: load_html for s in HTML_SUFFIXES},
    **{s: load_pdf for s in PDF_SUFFIXES},
    **{s: load_squad for s in JSON_SUFFIXES},
}


def load_file(path: Path) -> list[Document]:
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise UnsupportedFile(f"{path.name}: unsupported file type {path.suffix or '(none)'!r}; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}")
    try:
        return loader(path)
    except (CorruptFile, UnsupportedFile):
        raise
    except OSError as error:
        raise CorruptFile(f"{path.name}: cannot read ({error.strerror or error})") from None
    except Exception as error:  # noqa: BLE001 - a parser's surprise on one file must not stop the others
        raise CorruptFile(f"{path.name}: unreadable ({type(error).__name__}: {str(error)[:200]})") from None


def check_paths(paths: list[Path], allow_missing: bool = False) -> list[Path]:
    """Resolve the paths to ingest; a missing path (unless ``allow_missing``: with --prune it
    names a deleted folder whose documents should go) or a named unsupported file is an error."""
    resolved = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists() and not path.is_symlink() and allow_missing:
            resolved.append(path.resolve())
            continue
        if not path.exists():
            raise MissingPath(f"no such file or folder: {raw}")
        if path.is_file() and path.suffix.lower() not in LOADERS:
            raise UnsupportedFile(f"{path.name}: unsupported file type {path.suffix or '(none)'!r}; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}")
        resolved.append(path.resolve())
    return resolved


@dataclass
class Discovery:
    """What a walk over the paths to ingest found."""

    files: list[tuple[Path, Path]] = field(default_factory=list)  # (file, the root it was found under)
    ignored: list[Path] = field(default_factory=list)  # visible files no loader reads
    problems: dict[Path, str] = field(default_factory=dict)  # unreadable folders, broken links -> reason


def discover(paths: list[Path]) -> Discovery:
    """Supported files under ``paths``, hidden files and folders skipped. A folder that cannot be
    listed is a problem, not an empty folder: ingest reports it and --prune leaves its documents."""
    found = Discovery()
    for root in paths:
        if root.is_file():
            found.files.append((root, root))
            continue
        if not root.exists():  # a deleted folder named for --prune: nothing to walk
            continue

        def unreadable(error: OSError) -> None:
            found.problems[Path(error.filename or root)] = f"cannot read folder ({error.strerror or error})"

        walked: set[str] = set()  # real paths: a link back up the tree is walked once, not forever
        inside = Path(os.path.realpath(root))
        for folder, dirs, names in os.walk(root, onerror=unreadable, followlinks=True):
            real = os.path.realpath(folder)
            if real in walked:
                found.problems[Path(folder)] = "links to a folder already walked (skipped)"
                dirs[:] = []
                continue
            if not Path(real).is_relative_to(inside):
                found.problems[Path(folder)] = f"links outside {root} (skipped; ingest that folder by its own path)"
                dirs[:] = []
                continue
            walked.add(real)
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                file = Path(folder) / name
                if name.startswith("."):
                    continue
                if not file.exists():
                    found.problems[file] = "broken link"
                elif not Path(os.path.realpath(file)).is_relative_to(inside):  # a wiki author's link to /etc or a secrets file
                    found.problems[file] = f"links outside {root} (skipped; ingest that file by its own path)"
                elif not file.is_file():
                    continue  # sockets, pipes
                elif file.suffix.lower() in LOADERS:
                    found.files.append((file, root))
                else:
                    found.ignored.append(file)
    # a file named twice (`ingest docs docs/vpn.md`, `docs ./docs/`) is one file, not a clash
    seen: set[Path] = set()
    unique = []
    for file, root in found.files:
        key = file.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((file, root))
    found.files = unique
    return found
