"""The saved state of one reporter's conversation: the named step, the answers so far,
and the little navigation memory that `/kembali` and the summary's edit need."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class State(StrEnum):
    START = "start"
    CONSENT = "consent"
    PROVINCE = "province"
    REGENCY = "regency"
    AGENCY_GROUP = "agency_group"
    AGENCY_UNIT = "agency_unit"
    AGENCY_NAME = "agency_name"
    PERSON_NAME = "person_name"
    PERSON_POSITION = "person_position"
    PERSON_STATUS = "person_status"
    INCIDENT_TYPE = "incident_type"
    OCCURRED_ON = "occurred_on"
    LEARNED_ON = "learned_on"
    PLACE = "place"
    PLACE_PIN = "place_pin"
    DESCRIPTION = "description"
    WITNESSES = "witnesses"
    EVIDENCE = "evidence"
    NO_EVIDENCE = "no_evidence"
    IDENTITY = "identity"
    REPORTER_NAME = "reporter_name"
    REPORTER_PHONE = "reporter_phone"
    SUMMARY = "summary"
    EDIT = "edit"
    CONFIRM_CANCEL = "confirm_cancel"
    CONFIRM_RESTART = "confirm_restart"
    CONFIRM_CLEAR = "confirm_clear"
    CONFIRM_ERASE = "confirm_erase"
    RESUME = "resume"
    LANGUAGE = "language"
    INFO_ANSWER = "info_answer"
    DONE = "done"


IDLE_STATES = frozenset({State.START, State.DONE})
"""States with no report in progress: nothing to cancel, nothing that expires."""


@dataclass(slots=True)
class Draft:
    """The answers of a report in progress. Plain values only: it is stored as JSON."""

    consent_at: str | None = None
    province_code: str | None = None
    region_code: str | None = None
    agency_group: str | None = None
    agency_unit: str | None = None
    agency_name: str | None = None
    person_name: str | None = None
    person_position: str | None = None
    person_status: str | None = None
    incident_type: str | None = None
    occurred_on: str | None = None
    learned_on: str | None = None
    place: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    description: str | None = None
    witnesses: str | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    no_evidence_confirmed: bool = False
    identity_mode: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    link_asked: bool = False
    """The reporter was asked (once per report) for the address a short link opens."""
    cautions: list[str] = field(default_factory=list)
    """One-line cautions already given in this report ("recording", "image")."""


@dataclass(slots=True)
class Conversation:
    state: State = State.START
    locale: str = "id"
    draft: Draft = field(default_factory=Draft)
    history: list[str] = field(default_factory=list)
    token: int = 0
    page: int = 0
    matches: list[str] = field(default_factory=list)
    editing: str | None = None
    offered: list[list[str]] = field(default_factory=list)
    """The options of the question asked, in their numbered order: [id, label, *aliases]."""
    matchable: list[list[str]] = field(default_factory=list)
    """Every option a typed answer may pick by its words, shown or not (the rest of a short
    menu): [id, label, explanation, *aliases]. Empty: those offered, without explanations."""
    resume_to: str | None = None
    last_case: str | None = None
    info: dict[str, Any] | None = None
    """An officer's open question: request id, case number, question, state to return to."""
    abilities: list[str] = field(default_factory=list)
    """What the reporter's channel can show (`Capabilities.to_list`), from their last
    message: a question put to them outside a step (an officer's) is worded for it."""
    updated_at: str | None = None

    def to_json(self) -> str:
        """Every value is already JSON-native, so no recursive conversion is needed."""
        data: dict[str, Any] = {name: getattr(self, name) for name in _STORED_FIELDS}
        data["draft"] = {name: getattr(self.draft, name) for name in _DRAFT_FIELDS}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    def copy(self) -> Conversation:
        """A deep copy, for a step to change freely. Values are plain (str, number, bool,
        None) in lists and flat dicts, so only the containers are copied: a JSON round trip
        took four times as long, a sizeable part of a step."""
        d = self.draft
        draft = Draft(*[getattr(d, name) for name in _DRAFT_FIELDS])
        draft.evidence = [dict(item) for item in d.evidence]
        draft.cautions = list(d.cautions)
        return Conversation(
            state=self.state, locale=self.locale, draft=draft, history=list(self.history), token=self.token,
            page=self.page, matches=list(self.matches), editing=self.editing,
            offered=[list(option) for option in self.offered],
            matchable=[list(option) for option in self.matchable], resume_to=self.resume_to, last_case=self.last_case,
            info=json.loads(json.dumps(self.info)) if self.info is not None else None,
            abilities=list(self.abilities), updated_at=self.updated_at)

    @classmethod
    def from_json(cls, state: str, payload: str, updated_at: str | None) -> Conversation:
        data = json.loads(payload)
        draft_data = data.pop("draft", {}) or {}
        return cls(
            state=State(state),
            draft=Draft(**{k: v for k, v in draft_data.items() if k in _DRAFT_FIELDS}),
            updated_at=updated_at,
            **{k: v for k, v in data.items() if k in _STORED_FIELDS},
        )


_DRAFT_FIELDS = tuple(f.name for f in fields(Draft))
"""In declaration order: `copy` passes them by position."""
_STORED_FIELDS = tuple(f.name for f in fields(Conversation) if f.name not in ("state", "draft", "updated_at"))
