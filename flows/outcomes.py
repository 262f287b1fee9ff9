"""Domain events a step emits; the engine applies them in the step's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flows.reporter.conversation import Draft


@dataclass(frozen=True, slots=True)
class ConsentGiven:
    at: str


@dataclass(frozen=True, slots=True)
class ConsentRefused:
    at: str


@dataclass(frozen=True, slots=True)
class LocaleChanged:
    locale: str


@dataclass(frozen=True, slots=True)
class CaseSubmitted:
    number: str
    draft: Draft
    at: str


@dataclass(frozen=True, slots=True)
class InfoAnswered:
    """Part of a reporter's answer to an officer's question: text or files."""

    request_id: int
    case_number: str
    text: str | None
    evidence: tuple[dict[str, Any], ...]
    at: str


@dataclass(frozen=True, slots=True)
class InfoClosed:
    request_id: int
    case_number: str
    answered: bool
    at: str


@dataclass(frozen=True, slots=True)
class DataErased:
    """The reporter confirmed `/hapus_data`."""

    at: str


Outcome = DataErased | ConsentGiven | ConsentRefused | LocaleChanged | CaseSubmitted | InfoAnswered | InfoClosed
