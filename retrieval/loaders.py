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

_ATX_TITLE = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


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
        raise CorruptFile(f"{path.name}: not valid UTF-8 ({error.reason} at byte {error.start})") from None


def _file_document(path: Path, title: str, text: str, kind: str) -> Document:
    location = str(path)
    return Document(
        doc_id=location, title=title, text=text, location=location, updated=_mtime(path), metadata={"format": kind}
    )


def load_markdown(path: Path) -> list[Document]:
    text = _read_text(path)
    match = _ATX_TITLE.search(text)
    title = match.group(1).strip() if match else path.stem.replace("-", " ").replace("_", " ")
    return [_file_document(path, title, text, "markdown")]


def load_text(path: Path) -> list[Document]:
    text = _read_text(path)
    return [_file_document(path, path.stem.replace("-", " ").replace("_", " "), text, "text")]


_HTML_DROP = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template", "svg", "iframe"]
_HTML_BLOCKS = {"p", "li", "pre", "blockquote", "td", "th", "dd", "dt", "figcaption", "div", "section", "article"}


def load_html(path: Path) -> list[Document]:
    """Main text only: navigation, headers, footers and scripts dropped; headings kept as Markdown."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_read_text(path), "html.parser")
    title_tag = soup.find("title")
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": ["navigation", "banner", "contentinfo", "complementary"]}):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.find(attrs={"role": "main"}) or soup.body or soup
    lines: list[str] = []
    for element in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6", *_HTML_BLOCKS]):
        if element.name in {"div", "section", "article"} and element.find(["p", "li", "pre", "h1", "h2", "h3", "h4", "div"]):
            continue  # a container: its children are emitted on their own
        if element.find_parent(["p", "li", "pre", "td", "th"]) is not None:
            continue
        text = " ".join(element.get_text(" ", strip=True).split())
        if not text:
            continue
        if element.name.startswith("h") and element.name[1:].isdigit():
            lines.append(f"{'#' * int(element.name[1:])} {text}")
        else:
            lines.append(text)
    body = "\n\n".join(lines).strip()
    if not body:
        body = " ".join(root.get_text(" ", strip=True).split())
    h1 = root.find("h1") if hasattr(root, "find") else None
    title = (title_tag.get_text(strip=True) if title_tag else "") or (h1.get_text(strip=True) if h1 else "") or path.stem
    return [_file_document(path, title, body, "html")]


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
    return [_file_document(path, str(meta_title).strip() or path.stem, text, "pdf")]


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

        for folder, dirs, names in os.walk(root, onerror=unreadable):  # symlinked folders are not followed
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                file = Path(folder) / name
                if name.startswith("."):
                    continue
                if not file.exists():
                    found.problems[file] = "broken link"
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
