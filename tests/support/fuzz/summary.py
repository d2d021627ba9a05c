"""Group the disagreements a fuzz run recorded by the two backends' answers (scripts/fuzz)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def progress(path: str) -> int:
    """Cases run so far over every process of a long run (counted every 10,000)."""
    files = Path(path).parent.glob(Path(path).name + ".progress.*")
    return sum(int(file.read_text() or 0) for file in files)


def summarize(path: str) -> str:
    file = Path(path)
    if not file.exists():
        return f"{path}: no disagreement recorded ({progress(path)} cases counted so far)"
    groups: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    for line in file.read_text().splitlines():
        entry = json.loads(line)
        sides = [f"{entry[s]['statuses']} {entry[s]['reason'][:50]}" for s in ("httptools", "h11")]
        key = (sides[0], sides[1])
        groups[key] += 1
        examples.setdefault(key, entry["input"][:160])
    lines = [
        f"{path}: {sum(groups.values())} disagreement(s) in {len(groups)} group(s)"
        f" ({progress(path)} cases counted so far)"
    ]
    for key, count in groups.most_common(20):
        lines.append(f"{count:6}  httptools {key[0]!r}  h11 {key[1]!r}")
        lines.append(f"        e.g. {examples[key]!r}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(sys.argv[1]))
