"""Indonesia's provinces and kabupaten/kota (Kemendagri codes), and a forgiving name search.

People type "denpasar", "kab badung", "baubau", "fakfak" or "jakarta"; the official names
are "Kota Denpasar", "Kabupaten Badung", "Kota Bau Bau", "Kabupaten Fak Fak" and
"Daerah Khusus Ibukota Jakarta". Names are compared with spaces, punctuation and the
Kabupaten/Kota prefix folded away, then by closeness for typos (rapidfuzz), where one
name must be clearly the closest to be taken alone.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

TYPO_CUTOFF = 79.0
"""The lowest closeness at which a misspelt name counts: 100 less the Damerau-Levenshtein
distance (a missing, extra, wrong or swapped letter each cost one) per letter, in percent;
one typo in five letters passes ("pide" for Pidie)."""
TYPO_MARGIN = 8.0
"""How far ahead of the next name the closest must be to be the only answer: one typo
against two in a short name; in a long one, two names a typo or two away are both offered."""


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    level: str  # provinsi | kabupaten | kota
    parent_code: str | None

    @property
    def is_province(self) -> bool:
        return self.level == "provinsi"

    @property
    def province_code(self) -> str:
        return self.code if self.is_province else (self.parent_code or self.code[:2])


@dataclass(frozen=True, slots=True)
class _Catalog:
    by_code: dict[str, Region]
    provinces: tuple[Region, ...]
    children: dict[str, tuple[Region, ...]]
    keys: dict[str, tuple[str, ...]]  # folded name -> codes
    names: tuple[str, ...]  # the folded names, for the typo search


_PREFIXES = {
    "kabupaten": "kabupaten", "kab": "kabupaten", "kab.": "kabupaten",
    "kota": "kota", "kot": "kota", "kodya": "kota",
    "provinsi": "provinsi", "prov": "provinsi", "propinsi": "provinsi", "prop": "provinsi",
}
_TITLES = ("daerah khusus ibukota ", "daerah istimewa ", "administrasi ")
_ALIASES = {
    "dkj": "31", "dki": "31", "dkijakarta": "31",
    "jogja": "34", "yogya": "34", "jogjakarta": "34", "diy": "34",
    "ntb": "52", "ntt": "53", "babel": "19", "kepri": "21", "sulsel": "73", "sumut": "12",
    "sumbar": "13", "sumsel": "16", "jabar": "32", "jateng": "33", "jatim": "35",
    "kalbar": "61", "kalteng": "62", "kalsel": "63", "kaltim": "64", "kaltara": "65",
    "sulut": "71", "sulteng": "72", "sultra": "74", "sulbar": "76", "malut": "82",
}


def fold(text: str) -> str:
    """Lower case, 'kep.' spelled out, and everything but letters and digits removed."""
    text = text.lower().replace("kep.", "kepulauan ")
    return re.sub(r"[^a-z0-9]", "", text)


def _split_prefix(text: str) -> tuple[str | None, str]:
    words = text.lower().strip().split()
    if words and words[0] in _PREFIXES:
        return _PREFIXES[words[0]], " ".join(words[1:])
    return None, text


@lru_cache(maxsize=1)
def _catalog() -> _Catalog:
    raw = resources.files("flows").joinpath("reference", "regions.csv").read_text(encoding="utf-8")
    regions = [
        Region(row["code"], row["name"], row["level"], row["parent_code"] or None)
        for row in csv.DictReader(io.StringIO(raw))
    ]
    by_code = {r.code: r for r in regions}
    children: dict[str, list[Region]] = {}
    keys: dict[str, list[str]] = {}
    for region in regions:
        if region.parent_code:
            children.setdefault(region.parent_code, []).append(region)
        _, bare = _split_prefix(region.name)
        untitled = bare.lower()
        for title in _TITLES:
            untitled = untitled.removeprefix(title)
        for key in {fold(region.name), fold(bare), fold(untitled)}:
            keys.setdefault(key, []).append(region.code)
    return _Catalog(
        by_code=by_code,
        provinces=tuple(r for r in regions if r.is_province),
        children={k: tuple(v) for k, v in children.items()},
        keys={k: tuple(v) for k, v in keys.items()},
        names=tuple(keys),
    )


def get(code: str | None) -> Region | None:
    return _catalog().by_code.get(code or "")


def provinces() -> tuple[Region, ...]:
    return _catalog().provinces


def children(province_code: str) -> tuple[Region, ...]:
    return _catalog().children.get(province_code, ())


def all_regions() -> tuple[Region, ...]:
    return tuple(_catalog().by_code.values())


def search(query: str, within: str | None = None, limit: int = 8) -> list[Region]:
    """Regions whose name matches what was typed, best first.

    `within` (a province code) ranks that province's regions first. An exact folded match
    wins outright; otherwise prefix matches, then close spellings.
    """
    catalog = _catalog()
    prefix, bare = _split_prefix(query)
    key = fold(bare)
    if not key:
        return []
    if prefix is None and key in _ALIASES:
        return [catalog.by_code[_ALIASES[key]]]

    def wanted(region: Region) -> bool:
        return prefix is None or region.level == prefix

    def ranked(codes: list[str]) -> list[Region]:
        seen: dict[str, Region] = {}
        for code in codes:
            region = catalog.by_code[code]
            if wanted(region):
                seen.setdefault(code, region)
        found = list(seen.values())
        found.sort(key=lambda r: (within is not None and r.province_code != within, r.code))
        return found[:limit]

    exact = ranked(list(catalog.keys.get(key, ())))
    if exact:
        return exact
    starts = ranked([code for k, codes in catalog.keys.items() if k.startswith(key) for code in codes])
    if starts and len(key) >= 3:
        return starts
    return ranked(_close_keys(key, catalog, wanted))


def _close_keys(key: str, catalog: _Catalog, wanted: Callable[[Region], bool]) -> list[str]:
    """Codes of the names closest to a misspelt one: the closest alone when it is clearly
    ahead, else every name about as close (the reporter is asked which)."""
    if len(key) < 4:
        return []
    scored: dict[str, float] = {}
    for name, similarity, _index in process.extract(key, catalog.names, scorer=DamerauLevenshtein.normalized_similarity,
                                                    score_cutoff=TYPO_CUTOFF / 100, limit=None):
        score = similarity * 100
        for code in catalog.keys[name]:
            if wanted(catalog.by_code[code]) and score > scored.get(code, 0.0):
                scored[code] = score
    if not scored:
        return []
    best = max(scored.values())
    return sorted((code for code, score in scored.items() if best - score < TYPO_MARGIN),
                  key=lambda code: (-scored[code], code))
