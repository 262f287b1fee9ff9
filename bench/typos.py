"""Typed answers with a slip of the thumb: what the matchers make of them, and what it costs.

1. Region names: every name of the 38 provinces and 514 kabupaten/kota (five letters or
   more) with every one-letter slip (a letter dropped, swapped with the next, or replaced),
   searched as the reporter types it ("Kabupaten badnung"). Counts how many find their
   region alone, among a few offered, nothing, or another region alone; with rapidfuzz
   (`flows.regions.search`) and with the difflib search it replaced (cut-off 0.8), in one run.
2. The time of one region search with a typo, both ways.

Usage: python bench/typos.py
"""

from __future__ import annotations

import difflib
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows import regions
from flows.regions import _ALIASES, _TITLES, Region, _catalog, _split_prefix, fold


def difflib_search(query: str, limit: int = 8) -> list[Region]:
    """`flows.regions.search` as it was before issue 30: the same exact and prefix steps,
    then difflib's close matches (cut-off 0.8), every one of them offered."""
    catalog = _catalog()
    prefix, bare = _split_prefix(query)
    key = fold(bare)
    if not key:
        return []
    if prefix is None and key in _ALIASES:
        return [catalog.by_code[_ALIASES[key]]]

    def ranked(codes: list[str]) -> list[Region]:
        seen: dict[str, Region] = {}
        for code in codes:
            region = catalog.by_code[code]
            if prefix is None or region.level == prefix:
                seen.setdefault(code, region)
        return sorted(seen.values(), key=lambda r: r.code)[:limit]

    exact = ranked(list(catalog.keys.get(key, ())))
    if exact:
        return exact
    starts = ranked([code for k, codes in catalog.keys.items() if k.startswith(key) for code in codes])
    if starts and len(key) >= 3:
        return starts
    close = difflib.get_close_matches(key, list(catalog.keys), n=limit, cutoff=0.8)
    return ranked([code for k in close for code in catalog.keys[k]])


def slips(word: str) -> set[str]:
    out = set()
    for i in range(len(word)):
        out.add(word[:i] + word[i + 1:])
        out.add(word[:i] + "a" + word[i + 1:])
        if i + 1 < len(word):
            out.add(word[:i] + word[i + 1] + word[i] + word[i + 2:])
    return out - {word}


def queries() -> list[tuple[str, str]]:
    found = []
    for region in regions.all_regions():
        prefix, bare = _split_prefix(region.name)
        words = bare.lower()
        for title in _TITLES:
            words = words.removeprefix(title)
        if len(fold(words)) < 5:
            continue
        found += [(f"{prefix} {typo}" if prefix else typo, region.code) for typo in slips(words)]
    return found


def outcomes(search: Callable[[str], list[Region]], cases: list[tuple[str, str]]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for query, code in cases:
        got = [r.code for r in search(query)]
        counted["alone" if got == [code] else "offered" if code in got else "nothing" if not got else "other"] += 1
    return counted


def per_search(search: Callable[[str], list[Region]], repeat: int = 2000) -> float:
    search("kabupaten bandng barat")
    start = time.perf_counter()
    for _ in range(repeat):
        search("kabupaten bandng barat")
    return (time.perf_counter() - start) / repeat * 1000


def main() -> None:
    cases = queries()
    print(f"{len(cases)} one-slip spellings of {len(regions.all_regions())} region names")
    print(f"{'search':<22}{'alone':>8}{'offered':>9}{'nothing':>9}{'other':>7}{'ms/search':>11}")
    for name, search in (("rapidfuzz (now)", regions.search), ("difflib (before)", difflib_search)):
        counted = outcomes(search, cases)
        print(f"{name:<22}{counted['alone']:>8}{counted['offered']:>9}{counted['nothing']:>9}{counted['other']:>7}"
              f"{per_search(search):>11.2f}")


if __name__ == "__main__":
    main()
