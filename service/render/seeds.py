"""The seed-section index (cards/seed-sections.toml) and how a seed's text is read.

The running service never opens a seed: the seeds are not in the container image. It checks that
every catalogue citation names a seed file and section listed in the index. Tests (and reviewers
with the seeds at hand) use `section_spans` to prove each index entry and each quoted passage is
really in the seed, inside the section it is cited for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_WS = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Whitespace collapsed to single spaces: how quotes are written (clinical-rules.md §0)."""
    return _WS.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    anchor: str
    end: str | None = None  # an overlay (table) ends here; a main section runs to the next


@dataclass(frozen=True, slots=True)
class SeedInfo:
    """One seed as cards cite it: a short name and how current it is."""

    file: str
    key: str  # "000".."004": the file name's prefix
    short: str
    current: str
    year: int
    sections: tuple[Section, ...]

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)


def parse_index(data: dict[str, Any]) -> dict[str, SeedInfo]:
    """Seed file name -> SeedInfo; raises ValueError with a one-line reason."""
    seeds = data.get("seeds")
    if not isinstance(seeds, dict) or not seeds:
        raise ValueError("seed-sections.toml: no [seeds.\"<file>\"] tables")
    out: dict[str, SeedInfo] = {}
    for file, meta in seeds.items():
        try:
            sections = tuple(Section(s["name"], s["anchor"], s.get("end"))
                             for s in meta["sections"])
            info = SeedInfo(file, file.split("_", 1)[0], meta["short"], meta["current"],
                            int(meta["year"]), sections)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"seed-sections.toml: seed {file!r} is malformed ({exc})") from None
        names = [s.name for s in sections]
        if len(set(names)) != len(names):
            raise ValueError(f"seed-sections.toml: seed {file!r} repeats a section name")
        out[file] = info
    return out


def section_spans(text: str, info: SeedInfo) -> dict[str, tuple[int, int]]:
    """Section name -> (start, end) in the *normalised* seed text; KeyError names a lost anchor.

    Main sections are found in order, each after the previous one, and run to the next main
    section; overlays (with `end`) run from their anchor to the end of their `end` text.
    """
    spans: dict[str, tuple[int, int]] = {}
    starts: list[tuple[str, int]] = []
    pos = 0
    for s in info.sections:
        start = text.find(s.anchor, pos if s.end is None else 0)
        if start < 0:
            raise KeyError(f"{info.file}: anchor of section {s.name!r} not found")
        if s.end is None:
            starts.append((s.name, start))
            pos = start + len(s.anchor)
        else:
            stop = text.find(s.end, start)
            if stop < 0:
                raise KeyError(f"{info.file}: end of section {s.name!r} not found")
            spans[s.name] = (start, stop + len(s.end))
    for i, (name, start) in enumerate(starts):
        stop = starts[i + 1][1] if i + 1 < len(starts) else len(text)
        spans[name] = (start, stop)
    return spans


def read_seed(seeds_dir: Path, file: str) -> str:
    return normalise((seeds_dir / file).read_text(encoding="utf-8"))
