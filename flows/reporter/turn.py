"""One step in progress: the conversation being changed, the replies and outcomes so far,
and the navigation rules every handler shares (advance, back, edit, hints)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from flows import menus
from flows.capabilities import Capabilities
from flows.events import Inbound
from flows.i18n import gettext_for, ngettext_for
from flows.outcomes import Outcome
from flows.policy import DEFAULT_OPERATOR
from flows.replies import ChoicesReply, Option, Reply, Request, TextReply
from flows.reporter.conversation import Conversation, Draft, State

SECTIONS: dict[State, str] = {
    State.PROVINCE: "region", State.REGENCY: "region",
    State.AGENCY_GROUP: "agency", State.AGENCY_UNIT: "agency", State.AGENCY_NAME: "agency",
    State.PERSON_NAME: "person", State.PERSON_POSITION: "person", State.PERSON_STATUS: "person",
    State.INCIDENT_TYPE: "incident",
    State.OCCURRED_ON: "dates", State.LEARNED_ON: "dates",
    State.PLACE: "place", State.PLACE_PIN: "place",
    State.DESCRIPTION: "description", State.WITNESSES: "description",
    State.EVIDENCE: "evidence", State.NO_EVIDENCE: "evidence",
    State.IDENTITY: "identity", State.REPORTER_NAME: "identity", State.REPORTER_PHONE: "identity",
}
SECTION_START: dict[str, State] = {}
for _state, _section in SECTIONS.items():
    SECTION_START.setdefault(_section, _state)
SECTION_ORDER: tuple[str, ...] = tuple(SECTION_START)
QUESTIONS: tuple[State, ...] = (
    State.PROVINCE, State.AGENCY_GROUP, State.AGENCY_UNIT, State.AGENCY_NAME, State.PERSON_NAME,
    State.PERSON_POSITION, State.PERSON_STATUS, State.INCIDENT_TYPE, State.OCCURRED_ON, State.LEARNED_ON,
    State.PLACE, State.PLACE_PIN, State.DESCRIPTION, State.WITNESSES, State.EVIDENCE, State.IDENTITY,
    State.REPORTER_NAME, State.REPORTER_PHONE,
)
"""Each question of a report, as the reporter counts steps: one message, one answer. The
kabupaten/kota narrows the province's question, and "send it without evidence?" confirms
the evidence step: neither is a step of its own."""
SAME_STEP = {State.REGENCY: State.PROVINCE, State.NO_EVIDENCE: State.EVIDENCE}


def steps(conv: Conversation) -> list[State]:
    """The questions of this report as far as its answers tell: no office kind or employment
    status for a village, no name and phone for an anonymous reporter."""
    draft = conv.draft
    group = menus.agency_group(draft.agency_group)
    skipped: set[State] = set()
    if group is not None and not group.units:
        skipped.add(State.AGENCY_UNIT)
    if group is not None and not group.asn:
        skipped.add(State.PERSON_STATUS)
    if draft.identity_mode not in ("rahasia", "terbuka") and conv.state not in (State.REPORTER_NAME,
                                                                                 State.REPORTER_PHONE):
        skipped |= {State.REPORTER_NAME, State.REPORTER_PHONE}
    return [state for state in QUESTIONS if state not in skipped]


MODAL_STATES = frozenset({State.CONFIRM_CANCEL, State.CONFIRM_RESTART, State.CONFIRM_CLEAR, State.CONFIRM_ERASE,
                          State.LANGUAGE, State.RESUME, State.INFO_ANSWER})

@dataclass(frozen=True, slots=True)
class Facts:
    """What a step knows besides the conversation and the event: looked up by the engine in
    the step's transaction, so the step itself stays a pure function of its inputs."""

    agreed_at: str | None = None
    """When this chat agreed to the current privacy notice (None: not yet, or it changed)."""
    known: bool = False
    """Something about this chat is stored already (a reporter record, maybe cases)."""
    routable: bool = True
    """A submitted report would reach a focal point at once (else it waits for one)."""
    operator: str = DEFAULT_OPERATOR
    """Who runs the service, as the privacy notice names them."""


@dataclass(slots=True)
class Turn:
    conv: Conversation
    inbound: Inbound
    facts: Facts = field(default_factory=Facts)
    replies: list[Reply] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    reprompt: bool = False
    entered: bool = False
    """The conversation moved to a state in this turn (its question is new, not a repeat)."""
    explain: bool = False
    """Show a menu's explanations even where menus are short (the reporter typed "?")."""
    held_links: list[str] = field(default_factory=list)
    """Short links in this message that the channel could not resolve (`flows.reporter.links`)."""
    echoes: list[str] = field(default_factory=list)
    """What a typed answer was taken to mean ("Kabupaten Badung, Bali"), said in one line
    on top of the answer (`echo_first`), so a wrong match shows at once."""
    _: Callable[[str], str] = field(init=False)
    ngettext: Callable[[str, str, int], str] = field(init=False)

    def __post_init__(self) -> None:
        self.set_locale(self.conv.locale)
        self.conv.abilities = self.inbound.caps.to_list()

    @property
    def now(self) -> datetime:
        return self.inbound.at

    @property
    def caps(self) -> Capabilities:
        return self.inbound.caps

    def set_locale(self, locale: str) -> None:
        self.conv.locale = locale
        self._ = gettext_for(locale)
        self.ngettext = ngettext_for(locale)

    def say(self, text: str) -> None:
        self.replies.append(TextReply(text))

    def ask(self, text: str, options: Sequence[Option] = (), request: Request | None = None, *,
            matchable: Sequence[Option] | None = None) -> None:
        """`matchable`: the options a typed answer may pick by its words, when they are more
        than those shown (a short menu), or carry explanations that are not shown."""
        self.replies.append(ChoicesReply(text, tuple(options), self.conv.token, request))
        self.conv.offered = [[o.id, o.label, *o.aliases] for o in options]
        words = options if matchable is None else matchable
        explained = matchable is not None or any(o.description for o in options)
        self.conv.matchable = [[o.id, o.label, o.description or "", *o.aliases] for o in words] if explained else []

    def echo(self, text: str) -> None:
        self.echoes.append(text)

    def echo_first(self) -> None:
        """The echoes as the first line of the answer: "» Pakai fasilitas negara", as a
        pressed button's label is shown where buttons are (one message, not two)."""
        if not self.echoes or not self.replies:
            return
        marked = "\n".join(f"» {line}" for line in self.echoes)
        first = self.replies[0]
        if isinstance(first, (TextReply, ChoicesReply)):
            self.replies[0] = replace(first, text=f"{marked}\n\n{first.text}")
        self.echoes = []

    def hint(self, text: str) -> None:
        """Explain what went wrong and ask the same question again; nothing else changes."""
        self.say(text)
        self.reprompt = True

    def goto(self, state: State, *, remember: bool = True) -> None:
        """Move to a state; the old one is remembered for `/kembali` (modal ones never are)."""
        if remember and self.conv.state not in MODAL_STATES and self.conv.state != state:
            self.conv.history.append(self.conv.state.value)
        self._enter(state)

    def advance(self, state: State) -> None:
        """The next question of the flow, or back to the summary when an edit is complete."""
        editing = self.conv.editing
        if editing is not None and SECTIONS.get(state) != editing:
            state = State.SUMMARY
        self.goto(state)

    def back(self) -> bool:
        """One step back; False when there is nowhere to go back to."""
        if not self.conv.history:
            return False
        self._enter(State(self.conv.history.pop()))
        return True

    def reset(self) -> None:
        """Forget the report in progress (keeps language and the last case number)."""
        self.conv.draft = Draft()
        self.conv.history = []
        self.conv.matches = []
        self.conv.page = 0
        self.conv.editing = None
        self.conv.resume_to = None

    def _enter(self, state: State) -> None:
        if state == State.SUMMARY:
            self.conv.editing = None
            if State.SUMMARY.value in self.conv.history:
                del self.conv.history[self.conv.history.index(State.SUMMARY.value):]
        self.conv.state = state
        self.entered = True
        self.conv.token += 1
        self.conv.page = 0
        self.conv.matches = []
        self.conv.offered = []  # until the new state asks: a number must not pick the old question's option
        self.conv.matchable = []
        self.reprompt = True
