"""Write docs/settings.md from the setting declarations: ``python -m mypkg.docgen``."""

from __future__ import annotations

import pathlib

from mypkg.config import Config  # noqa: F401  (imports every declaration)
from mypkg.settings import reference_markdown

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "settings.md"

if __name__ == "__main__":
    DOC.write_text(reference_markdown())
    print(f"wrote {DOC}")
