"""Typed answers matched to the options of a question, forgiving of typos and of the words
of an option's own explanation, and never silently wrong.

A reporter on a phone types "setju", "kecamatn" or "mobil dinas" where a menu offers
"agree", "district office" and "state facilities - official cars, offices…". The
matcher answers with one option (taken, and echoed to the reporter), two or three close
ones (offered as a short choice) or none (the question is asked again). It prefers asking
to guessing:

- the label, the id or an alias typed out (in any case, with stray punctuation) is exact;
- typo tolerance (rapidfuzz's normalised Indel ratio) is used only for answers of four
  characters or more, against labels and aliases of four or more, and only when one
  option is clearly ahead of the others;
- an answer matched by its words must have every meaningful word in the option's label,
  aliases or explanation; words that carry no meaning alone ("yang", "aja", "tidak")
  never make a match by themselves, and a word of denial must be in both or in neither,
  so "tidak hapus" never picks "Ya, hapus", "tidak" never picks "Tidak tahu", and "setju"
  never picks "Tidak setuju";
- a number is never matched loosely (numbers are the channel's business: `flows.reporter`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

CUTOFF = 85.0
"""The lowest score that counts as a match (100: the same text)."""
MARGIN = 6.0
"""How far ahead of the next option the best one must be to be taken without asking."""
MAX_CHOICE = 3
"""More close matches than this are no short choice: the whole question is asked again."""
MIN_FUZZY = 4
"""Answers (and labels, aliases) shorter than this are matched exactly or not at all."""
MIN_FUZZY_WORD = 5
"""A single word is matched with a typo only from this length on ("dinas" is exact)."""

NEGATIONS = frozenset({
    "tidak", "tdk", "gak", "ga", "gk", "nggak", "ngga", "enggak", "engga", "ndak", "tak", "bukan", "belum",
    "jangan", "no", "not", "dont", "don't", "never",
})
"""Words of denial: they count only where the option has them too."""
STOPWORDS = frozenset({
    # Indonesian function words and the particles of chat ("aja", "deh", "dong")
    "yang", "dan", "atau", "di", "ke", "dari", "untuk", "utk", "dengan", "dgn", "pada", "saat", "oleh",
    "dalam", "ini", "itu", "ada", "sudah", "udah", "sdh", "juga", "jg", "lain", "para", "sebagai", "kepada",
    "saya", "aku", "sy", "dia", "ia", "beliau", "nya", "mereka", "kami", "kita", "pak", "bu", "bapak", "ibu",
    "aja", "saja", "deh", "dong", "sih", "kok", "lah", "nih", "tuh", "ya", "yg", "kak", "min", "mas", "mbak",
    "mau", "ingin", "pengen", "lagi", "tolong", "mohon", "pilih", "semua", "soal", "tentang",
    "asn", "pns", "orang", "oknum",  # the person reported: says nothing about which option
    # English
    "the", "a", "an", "of", "or", "and", "to", "in", "on", "for", "with", "at", "by", "is", "it", "my",
    "i", "he", "she", "they", "please", "want", "again",
})
"""Words that carry no meaning on their own at a menu."""

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_RUN = re.compile(r"([^\W\d_])\1{2,}")


def fold(text: str) -> str:
    """Lower case, underscores as spaces, one space between words, stray punctuation at the
    ends removed, and a letter held down ("iyaaa", "okeee") counted once."""
    text = " ".join(text.replace("_", " ").split()).casefold().strip(" .,!?;:'\"…«»")
    return _RUN.sub(r"\1", text)


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@dataclass(frozen=True, slots=True)
class Candidate:
    """What an answer is matched against: one option of the question."""

    id: str
    label: str
    aliases: tuple[str, ...] = ()
    explanation: str = ""
    """The option's explanation, shown or not: its words point to the option."""

    def phrases(self) -> tuple[str, ...]:
        """The label, the id and the aliases, folded: what may be typed out whole."""
        return _prepared(self.id, self.label, self.aliases, self.explanation).phrases


@dataclass(frozen=True, slots=True)
class _Prepared:
    phrases: tuple[str, ...]
    long_phrases: tuple[str, ...]
    vocabulary: frozenset[str]
    long_words: tuple[str, ...]
    denies: bool
    """The label has a word of denial ("Tidak tahu", "Tidak, simpan")."""


@lru_cache(maxsize=4096)
def _prepared(option_id: str, label: str, aliases: tuple[str, ...], explanation: str) -> _Prepared:
    """An option folded and split once: menus are few and asked again and again."""
    phrases = tuple(dict.fromkeys((fold(label), fold(option_id), *(fold(a) for a in aliases))))
    vocabulary = frozenset(words(label)) | frozenset(words(option_id)) | frozenset(words(explanation))
    for alias in aliases:
        vocabulary |= frozenset(words(alias))
    return _Prepared(phrases, tuple(p for p in phrases if len(p) >= MIN_FUZZY), vocabulary,
                     tuple(w for w in vocabulary if len(w) >= MIN_FUZZY), bool(NEGATIONS & set(words(label))))


@dataclass(frozen=True, slots=True)
class Match:
    """One id: the answer; two or three: ask which; none: the answer matched nothing."""

    ids: tuple[str, ...] = ()
    literal: bool = False
    """The label itself typed out: nothing to confirm to the reporter."""

    @property
    def one(self) -> str | None:
        return self.ids[0] if len(self.ids) == 1 else None


NO_MATCH = Match()


def exact(typed: str, options: Sequence[Candidate]) -> Match:
    """The option whose label, id or alias is what was typed (in any case, with stray
    punctuation): all that counts where any text is an answer (a name, a place)."""
    return _exact(fold(typed), _prepare(options))


def match(typed: str, options: Sequence[Candidate]) -> Match:
    """The option(s) a typed answer means; see the module's docstring for the rules."""
    text = fold(typed)
    prepared = _prepare(options)
    found = _exact(text, prepared)
    if found.ids or not text or text.isdigit():
        return found
    typed_words = [w for w in words(text) if w not in STOPWORDS]
    scored = sorted(((_score(text, typed_words, ready), n, option_id) for n, (option_id, ready) in enumerate(prepared)),
                    key=lambda s: (-s[0], s[1]))
    kept = [(score, option_id) for score, _n, option_id in scored if score >= CUTOFF]
    if not kept:
        return NO_MATCH
    best = kept[0][0]
    close = [option_id for score, option_id in kept if best - score < MARGIN]
    if len(close) > MAX_CHOICE:
        return NO_MATCH
    return Match(tuple(close))


def _prepare(options: Sequence[Candidate]) -> list[tuple[str, _Prepared]]:
    return [(o.id, _prepared(o.id, o.label, o.aliases, o.explanation)) for o in options]


def _exact(text: str, prepared: list[tuple[str, _Prepared]]) -> Match:
    if not text:
        return NO_MATCH
    for option_id, ready in prepared:
        if text == ready.phrases[0]:
            return Match((option_id,), literal=True)
    for option_id, ready in prepared:
        if text in ready.phrases:
            return Match((option_id,))
    return NO_MATCH


def _score(text: str, typed_words: list[str], option: _Prepared) -> float:
    return max(_whole(text, option), _by_words(typed_words, option))


def _whole(text: str, option: _Prepared) -> float:
    """The whole answer against the label and each alias, with typos."""
    if len(text) < MIN_FUZZY or not option.long_phrases:
        return 0.0
    best = process.extractOne(text, option.long_phrases, scorer=fuzz.ratio)
    return float(best[1]) if best else 0.0


def _by_words(typed: list[str], option: _Prepared) -> float:
    """Every meaningful word typed is a word of the option (or a typo of a long one); the
    score is that of the weakest word. Denials must be in the option; particles are ignored."""
    meaningful = [w for w in typed if w not in NEGATIONS and not w.isdigit() and len(w) >= 3]
    if not meaningful:
        return 0.0
    if option.denies and not NEGATIONS & set(typed):
        return 0.0  # "tahu" is not "Tidak tahu", nor "setuju" "Tidak setuju"
    weakest = 100.0
    for word in typed:
        if word in option.vocabulary:
            continue
        if word in NEGATIONS or word.isdigit() or len(word) < MIN_FUZZY_WORD or not option.long_words:
            return 0.0
        best = process.extractOne(word, option.long_words, scorer=fuzz.ratio, score_cutoff=CUTOFF)
        if best is None:
            return 0.0
        weakest = min(weakest, float(best[1]))
    return weakest
