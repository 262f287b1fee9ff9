"""Related reports: when several citizens report the same official or the same rally, the
officers should see the cases together instead of as unrelated cards.

A new case is linked, at submission, to earlier cases that name the same person (a
similar name, and the same agency or region), that concern the same event (same region
and incident type, happened within three days of each other), or that hold an identical
file. Each search is bounded (an index, a date window, a row limit), so a submission
stays cheap however many cases the database holds. Moderators link and unlink by hand.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache

from rapidfuzz import fuzz, process

from flows.case import forwarding
from flows.staff.roles import Role
from flows.staff.visibility import PRIVATE, SHELL, Viewer, may_see
from storage import Database, Tx, case_links, cases
from storage.case_links import Candidate, Related
from storage.cases import Case

EVENT_DAYS = 3
NAME_THRESHOLD = 88
AGENCY_THRESHOLD = 90
NAME_CANDIDATES = 500
"""The latest cases of the province compared by name: a whole Pilkada's worth."""
NAME_WINDOW_DAYS = 400
EVENT_CANDIDATES = 50
FILE_CANDIDATES = 50
MAX_LINKS = 10
"""Links a new case gets at submission: the strongest and newest matches. A rally reported
by hundreds would otherwise link every report to every earlier one: O(N) rows, events
and card edits per submission, and a card line nobody can read. The earlier ones stay
reachable through the cases linked."""
LINK_BATCH = 20
REASONS = ("name", "event", "file", "manual")

TITLES = frozenset({
    "drs", "dra", "dr", "ir", "h", "hj", "haji", "hajah", "hajjah", "kh", "prof", "st", "se", "sh", "mh", "mm",
    "mt", "mba", "msi", "mpd", "spd", "spdi", "ssos", "skom", "sag", "mag", "sip", "amd", "skep", "ners",
    "sked", "mkes", "shut", "spsi", "sfarm", "ssi", "sst", "phd", "msc", "bsc", "ust", "ustadz", "ustad",
    "kyai", "kiai", "bapak", "pak", "ibu", "bu", "sdr", "sdri", "tuan", "nyonya",
})
"""Titles and forms of address written without dots ("Drs", "SPd", "Pak")."""
TITLE_PARTS = TITLES | frozenset({"pd", "si", "sos", "kom", "ag", "hum", "psi", "hut", "kep", "ked", "farm",
                                  "md", "ip", "kes", "ak", "ph", "sc", "ba", "ma", "ikom", "ling", "tr", "sd"})
"""Pieces of dotted titles ("S.Pd.", "M.Si.", "A.Md."); one-letter pieces always go."""
PARTICLES = frozenset({"i", "ni"})
"""Balinese name particles: "I Wayan" and "Wayan" are one person."""
NOT_A_NAME = frozenset({"tidak", "tahu", "tau", "tdk", "diketahui", "kenal", "belum", "unknown", "anonim"})
_OLD_SPELLING = (("oe", "u"), ("dj", "j"), ("tj", "c"), ("sj", "sy"), ("nj", "ny"), ("dh", "d"), ("th", "t"))
"""Spellings from before 1972 (EYD) still common in names, and aspirated spellings."""
_DOUBLE = re.compile(r"([a-z])\1+")


def _fold(text: str) -> str:
    """Lower case, accents and punctuation other than dots and commas removed."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9.,\s]", " ", text)


@lru_cache(maxsize=8192)
def name_tokens(name: str | None) -> tuple[str, ...]:
    """A person's name reduced to the words that identify them: no titles, no particles,
    the old and the new spelling alike, doubled letters single."""
    if not name:
        return ()
    words: list[str] = []
    for piece in re.split(r"[\s,]+", _fold(name)):
        if not piece:
            continue
        if "." in piece:
            parts = [p for p in piece.split(".") if p]
            words += [p for p in parts if len(p) > 1 and p not in TITLE_PARTS]
        elif piece not in TITLES:
            words.append(piece)
    words = [w for w in words if w not in PARTICLES and not w.isdigit()]
    if all(w in NOT_A_NAME for w in words):
        return ()
    normal = []
    for word in words:
        for old, new in _OLD_SPELLING:
            word = word.replace(old, new)
        normal.append(_DOUBLE.sub(r"\1", word))
    return tuple(normal)


@lru_cache(maxsize=8192)
def name_key(name: str | None) -> str:
    """The name's words as one string, what rapidfuzz compares."""
    return " ".join(name_tokens(name))


def name_score(a: str | None, b: str | None) -> float:
    """0-100: how likely two typed names are one person. Word order does not count; an
    extra word counts little when both names have two or more; a single word is only
    compared with a single word ("Wayan" alone is half of Bali)."""
    ta, tb = name_tokens(a), name_tokens(b)
    if not ta or not tb:
        return 0.0
    short, long_ = sorted((ta, tb), key=len)
    if len(short) == 1 and len(long_) > 1:
        return 0.0
    x, y = " ".join(ta), " ".join(tb)
    score = fuzz.token_sort_ratio(x, y)
    if len(short) >= 2:
        score = max(score, fuzz.token_set_ratio(x, y))
    return float(score)


def names_match(a: str | None, b: str | None) -> bool:
    return name_score(a, b) >= NAME_THRESHOLD


AGENCY_WORDS = {
    "kab": "kabupaten", "prov": "provinsi", "propinsi": "provinsi", "kec": "kecamatan", "kel": "kelurahan",
    "kemenag": "kementerian agama", "disdik": "dinas pendidikan", "dinkes": "dinas kesehatan",
    "pemkab": "pemerintah kabupaten", "pemkot": "pemerintah kota", "pemprov": "pemerintah provinsi",
}
"""Abbreviations people type for the same office."""
_STATE_SCHOOL = re.compile(r"\b(sd|smp|sma|smk|slb|mi|mts|ma)\s+n(egeri)?\b")


@lru_cache(maxsize=8192)
def agency_words(name: str) -> str:
    text = _STATE_SCHOOL.sub(r"\1n", _fold(name).replace(".", " ").replace(",", " "))
    return " ".join(AGENCY_WORDS.get(word, word) for word in text.split())


def agencies_match(a: str | None, b: str | None) -> bool:
    """Two typed agency names for one office: similar words, abbreviations spelled out,
    and the same numbers ("SMPN 1 Denpasar" is not "SMPN 2 Denpasar")."""
    if not a or not b:
        return False
    x, y = agency_words(a), agency_words(b)
    if not x or not y or sorted(re.findall(r"\d+", x)) != sorted(re.findall(r"\d+", y)):
        return False
    return fuzz.token_sort_ratio(x, y) >= AGENCY_THRESHOLD


def _similar_names(name: str | None, pool: list[Candidate]) -> list[Candidate]:
    """The candidates whose name matches. rapidfuzz's batch search (in C) keeps only those
    that pass either scorer; `names_match` then applies the whole rule to these few."""
    query = name_key(name)
    if not query or not pool:
        return []
    choices = [name_key(c.person_name) for c in pool]
    hits: set[int] = set()
    for scorer in (fuzz.token_sort_ratio, fuzz.token_set_ratio):
        hits.update(index for _choice, _score, index in
                    process.extract(query, choices, scorer=scorer, limit=None, score_cutoff=NAME_THRESHOLD))
    verdicts: dict[str | None, bool] = {}  # one official named in a hundred reports: one verdict
    for i in hits:
        other = pool[i].person_name
        if other not in verdicts:
            verdicts[other] = names_match(name, other)
    return [pool[i] for i in sorted(hits) if verdicts[pool[i].person_name]]


@dataclass(frozen=True, slots=True)
class Match:
    case_id: int
    number: str
    reasons: tuple[str, ...]


def _days_apart(a: str, b: str) -> int:
    return abs((date.fromisoformat(a) - date.fromisoformat(b)).days)


def _reasons(case: Case, by_name: Iterable[Candidate], by_event: Iterable[Candidate],
             by_file: Iterable[Candidate]) -> dict[int, tuple[str, list[str]]]:
    """Each related candidate's number and reasons (pure: the searches come in)."""
    found: dict[int, tuple[str, list[str]]] = {}

    def note(candidate: Candidate, reason: str) -> None:
        found.setdefault(candidate.id, (candidate.number, []))[1].append(reason)

    for c in _similar_names(case.person_name, list(by_name)):
        if c.region_code == case.region_code or agencies_match(c.agency_name, case.agency_name):
            note(c, "name")
    for c in by_event:
        if (c.region_code == case.region_code and c.incident_type == case.incident_type
                and _days_apart(c.occurred_on, case.occurred_on) <= EVENT_DAYS):
            note(c, "event")
    for c in by_file:
        note(c, "file")
    found.pop(case.id, None)
    return found


def _match(case_id: int, number: str, reasons: list[str]) -> Match:
    return Match(case_id, number, tuple(dict.fromkeys(reasons)))


def match(case: Case, by_name: Iterable[Candidate], by_event: Iterable[Candidate],
          by_file: Iterable[Candidate]) -> list[Match]:
    """Which candidates are related to `case`, and why (pure: the searches come in)."""
    return [_match(i, number, reasons) for i, (number, reasons) in
            sorted(_reasons(case, by_name, by_event, by_file).items())]


def strongest(found: list[Match], limit: int) -> list[Match]:
    """The `limit` matches with the most reasons, the newest first among equals; in case order."""
    kept = sorted(found, key=lambda m: (len(m.reasons), m.case_id), reverse=True)[:limit]
    return sorted(kept, key=lambda m: m.case_id)


def strongest_matches(case: Case, by_name: Iterable[Candidate], by_event: Iterable[Candidate],
                      by_file: Iterable[Candidate], limit: int = MAX_LINKS) -> list[Match]:
    """`strongest(match(...), limit)` without a `Match` for each of hundreds of candidates
    that are not kept (a rally reported by a thousand people: most of the search's CPU)."""
    found = _reasons(case, by_name, by_event, by_file)
    top = heapq.nlargest(limit, found.items(), key=lambda item: (len(set(item[1][1])), item[0]))
    return [_match(i, number, reasons) for i, (number, reasons) in sorted(top)]


async def candidates(tx: Tx, case: Case) -> tuple[list[Candidate], list[Candidate], list[Candidate]]:
    by_name: list[Candidate] = []
    if case.person_name and name_tokens(case.person_name):
        since = (date.fromisoformat(case.created_at[:10]) - timedelta(days=NAME_WINDOW_DAYS)).isoformat()
        by_name = [c for c in await case_links.latest_in_province(tx, case.province_code, case.id, NAME_CANDIDATES)
                   if c.created_at[:10] >= since]
    day = date.fromisoformat(case.occurred_on)
    by_event = await case_links.same_event(
        tx, case.region_code, case.incident_type, (day - timedelta(days=EVENT_DAYS)).isoformat(),
        (day + timedelta(days=EVENT_DAYS)).isoformat(), case.id, EVENT_CANDIDATES)
    by_file = await case_links.same_file(tx, case.id, FILE_CANDIDATES)
    return by_name, by_event, by_file


async def link_new_case(tx: Tx, case: Case, at: str) -> list[Match]:
    """Search and link a submitted case in one transaction (see `link_waiting`, which the
    delivery worker runs)."""
    found = strongest_matches(case, *await candidates(tx, case))
    if await case_links.claim(tx, case.id, at):
        await _write_links(tx, case, found, at)
    return found


async def link_waiting(db: Database, at: str, limit: int = LINK_BATCH) -> int:
    """Link the cases submitted since the last round to the earlier ones they relate to.
    The search and the matching read on a reading connection; only the links are written,
    in a short transaction per case, so neither a reporter's submit nor the steps behind it
    wait for the search. Runs before the worker sends cards, so a new card shows its links;
    a card already sent is refreshed. Returns how many cases were linked."""
    async with db.reading() as tx:
        found = []
        for case_id in await case_links.waiting(tx, limit):
            case = await cases.get(tx, case_id)
            if case is not None:
                found.append((case, strongest_matches(case, *await candidates(tx, case))))
    linked = 0
    for case, matches in found:
        async with db.transaction() as tx:
            if await case_links.claim(tx, case.id, at):  # another worker may have been quicker
                await _write_links(tx, case, matches, at)
                linked += 1
    return linked


async def _write_links(tx: Tx, case: Case, found: list[Match], at: str) -> None:
    """Each link is an event of both cases, and the cards of both are refreshed to show it
    (the new case's only if its card went out before it was linked)."""
    added = False
    for m in found:
        if await case_links.add(tx, m.case_id, case.id, m.reasons, "system", at):
            added = True
            note = ",".join(m.reasons)
            await cases.add_event(tx, case.id, at, "system", "related", None, m.number, note)
            await cases.add_event(tx, m.case_id, at, "system", "related", None, case.number, note)
            await forwarding.refresh_posts(tx, m.case_id, at)
    if added:
        await forwarding.refresh_posts(tx, case.id, at)


async def link(tx: Tx, a: Case, b: Case, actor_ref: str, actor_name: str | None, at: str) -> bool:
    """A moderator links two cases; False when they already were."""
    if a.id == b.id or not await case_links.add(tx, a.id, b.id, ("manual",), actor_ref, at):
        return False
    await cases.add_event(tx, a.id, at, actor_ref, "link", None, b.number, None, actor_name)
    await cases.add_event(tx, b.id, at, actor_ref, "link", None, a.number, None, actor_name)
    await forwarding.refresh_posts(tx, a.id, at)
    await forwarding.refresh_posts(tx, b.id, at)
    return True


async def unlink(tx: Tx, a: Case, b: Case, actor_ref: str, actor_name: str | None, at: str) -> bool:
    """A moderator separates two cases; a pair is matched only once, at submission, so an
    unlinked pair stays apart."""
    if not await case_links.remove(tx, a.id, b.id):
        return False
    await cases.add_event(tx, a.id, at, actor_ref, "unlink", b.number, None, None, actor_name)
    await cases.add_event(tx, b.id, at, actor_ref, "unlink", a.number, None, None, actor_name)
    await forwarding.refresh_posts(tx, a.id, at)
    await forwarding.refresh_posts(tx, b.id, at)
    return True


async def visible(tx: Tx, case_id: int, audience: Viewer) -> list[Related]:
    """The cases linked to this one that the audience may see (a focal group: its own).

    An identical file says "one person sent both" as much as "one event": between a report
    whose reporter officers may see named and one they may not, that would name the hidden
    one. So only moderators and the shell read a file link between reports of different
    identity modes; anyone else reads the pair's other reasons, if any."""
    case = await cases.get(tx, case_id)
    trusted = audience.kind == SHELL or audience.role in (Role.ADMIN, Role.MODERATOR) and audience.kind == PRIVATE
    shown = []
    for related in await case_links.of_case(tx, case_id):
        other = await cases.get(tx, related.case_id)
        if other is None or not await may_see(tx, audience, other):
            continue
        if not trusted and case is not None and other.identity_mode != case.identity_mode and "file" in related.reasons:
            reasons = tuple(r for r in related.reasons if r != "file")
            if not reasons:
                continue
            related = replace(related, reasons=reasons)
        shown.append(related)
    return shown
