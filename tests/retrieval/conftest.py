"""Retrieval fixtures: one embedder per session, tiny corpora written into tmp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def embedder():
    from retrieval.embedder import get_embedder

    return get_embedder(None)


def make_pdf(text_lines: list[str]) -> bytes:
    """A minimal one-page PDF with a real text layer (no PDF writer dependency)."""
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in text_lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


@pytest.fixture
def unlistable(monkeypatch):
    """``unlistable(folder)``: listing ``folder`` fails with Permission denied from now on
    (chmod 000 does not stop root, who runs the tests in CI)."""
    import os

    locked: set[Path] = set()
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) in locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return locked.add


@pytest.fixture
def pdf_bytes():
    return make_pdf


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Three small Markdown pages about unrelated topics."""
    root = tmp_path / "kb"
    root.mkdir()
    (root / "vpn.md").write_text(
        "# VPN\n\nConnect to the office network with the WireGuard client.\n\n"
        "## Troubleshooting\n\nIf the tunnel drops, restart WireGuard and check that your token has not expired.\n"
    )
    (root / "leave.md").write_text(
        "# Annual leave\n\nEvery employee gets 27 days of paid annual leave per calendar year.\n\n"
        "## Carry-over\n\nUp to five unused days carry over to the next year; the rest expire in March.\n"
    )
    (root / "espresso.txt").write_text("The espresso machine on floor three is descaled every Friday by the facilities team.\n")
    return root


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Say out loud when the Weaviate half of the store contract did not run."""
    import os

    if not os.environ.get("WEAVIATE_URL") and any(
        "weaviate" in report.nodeid for report in terminalreporter.stats.get("skipped", [])
    ):
        terminalreporter.write_line("NOTE: Weaviate store contract tests SKIPPED (set WEAVIATE_URL to run them)", yellow=True, bold=True)
