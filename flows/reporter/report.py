"""The report flow: one handler per named state, and `step`, which applies one inbound
event to a saved conversation.

`step` is pure: the same conversation and the same inbound event (with its time and
nonce) always give the same result. The engine persists what it returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from flows import matching, menus, regions
from flows.capabilities import Capabilities
from flows.case import case_number
from flows.dates import read_date
from flows.events import (
    Choice,
    Command,
    Contact,
    Event,
    Forwarded,
    Inbound,
    Location,
    Media,
    MediaItem,
    Text,
    Unsupported,
)
from flows.i18n import LOCALES, long_date, normalize_locale
from flows.outcomes import (
    CaseSubmitted,
    ConsentGiven,
    ConsentRefused,
    DataErased,
    InfoAnswered,
    LocaleChanged,
    Outcome,
)
from flows.replies import Option, Reply
from flows.reporter import info_answer, links, prompts, summary
from flows.reporter.conversation import IDLE_STATES, Conversation, Draft, State
from flows.reporter.turn import MODAL_STATES, SECTION_START, Facts, Turn
from flows.reporter.wording import bare_number, out_of_range, pick_hint, press

TTL = timedelta(hours=24)
LATE_AFTER_DAYS = 7
MIN_DESCRIPTION = 30
MAX_LENGTHS = {
    "agency_name": 200, "person_name": 120, "person_position": 120, "place": 300,
    "description": 4000, "witnesses": 1000, "reporter_name": 120,
}

COMMANDS = {
    "mulai": "start", "start": "start",
    "batal": "cancel", "cancel": "cancel",
    "kembali": "back", "back": "back",
    "bantuan": "help", "help": "help",
    "bahasa": "language", "language": "language",
    "status": "status", "cek": "status",
    "data_saya": "my_data", "my_data": "my_data",
    "hapus_data": "erase", "delete_my_data": "erase",
}


TEXT_STATES = frozenset({
    State.AGENCY_NAME, State.PERSON_NAME, State.PERSON_POSITION, State.OCCURRED_ON, State.LEARNED_ON,
    State.PLACE, State.DESCRIPTION, State.WITNESSES, State.REPORTER_NAME, State.REPORTER_PHONE,
    State.INFO_ANSWER,
})
"""States whose answer may be any text: a number or a word there is an answer, not a pick."""
SEARCH_STATES = frozenset({State.PROVINCE, State.REGENCY})
"""States where typed text is a region name to look up."""
EVIDENCE_STATES = frozenset({State.EVIDENCE, State.NO_EVIDENCE, State.INFO_ANSWER})
"""States where a forwarded message is evidence in its own right."""
WORDS_WANTED = TEXT_STATES - {State.INFO_ANSWER, State.REPORTER_PHONE}
"""Text states where a number alone is no answer (a name, a place, a date): it is asked
about, never stored. An officer's question may well be answered with a number."""
EXPLAIN = frozenset({"?", "??", "penjelasan", "jelaskan", "explain", "explanation"})
DECLINED_BY_CANCEL = {State.CONFIRM_ERASE: "keep", State.CONFIRM_CLEAR: "no", State.CONFIRM_RESTART: "no"}
"""Questions where /batal (or "batal" typed alone) answers no: it cancels the erasure, the
removal or the restart, not the report."""


@dataclass(frozen=True, slots=True)
class OutOfRange:
    """A number typed where options are offered, but no option has it."""

    number: int
    count: int


@dataclass(frozen=True, slots=True)
class CloseMatches:
    """Typed text close to two or three options: the reporter is asked which."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BareNumber:
    """A number alone where words are wanted, and no option has that number."""

    number: int


Answer = Event | OutOfRange | CloseMatches | BareNumber


@dataclass(frozen=True, slots=True)
class StepResult:
    conversation: Conversation
    replies: list[Reply]
    outcomes: list[Outcome]
    stale: bool = False


def new_conversation(locale_hint: str | None, default_locale: str = "id") -> Conversation:
    return Conversation(locale=normalize_locale(locale_hint, default_locale))


def step(conv: Conversation, inbound: Inbound, facts: Facts = Facts()) -> StepResult:
    turn = Turn(conv.copy(), inbound, facts)
    swept = links.sweep(turn, inbound.event)  # every link cleaned before any handler sees the text
    if isinstance(swept, Forwarded) and turn.conv.state not in EVIDENCE_STATES:
        swept = Text(swept.text)  # elsewhere a forwarded message is what it says
    event, picked = _as_choice(turn.conv, swept)
    if _expired(turn.conv, inbound.at) and not _is_command(event, "start", "cancel"):
        turn.goto(State.RESUME)
    elif isinstance(event, Choice) and event.token is not None and event.token != turn.conv.token:
        turn.say(turn._("That choice is no longer valid. Please answer the latest question."))
        return StepResult(conv, turn.replies, [], stale=True)
    elif isinstance(event, Command):
        _command(turn, event)
    elif isinstance(event, OutOfRange):
        turn.hint(out_of_range(turn._, turn.caps, event.number, event.count))
    elif isinstance(event, BareNumber):
        turn.hint(bare_number(turn._, turn.caps, event.number, _offered_options(turn.conv)))
    elif isinstance(event, CloseMatches):
        turn.conv.matches = list(event.ids)  # the question again, narrowed to them
        turn.reprompt = True
    elif event == Choice(prompts.NAV_LIST) and turn.conv.matches and turn.conv.state not in SEARCH_STATES:
        turn.conv.matches = []  # none of those: the whole question again
        turn.reprompt = True
    elif isinstance(event, Text) and event.text.strip().casefold() in EXPLAIN \
            and turn.conv.state in prompts.EXPLAINED_STATES:
        turn.explain = turn.reprompt = True  # the menu again, with what each option means
    elif isinstance(event, Text) and event.text.strip() in ("?", "??"):
        _command(turn, Command("bantuan"))  # a question mark anywhere else asks for help
    else:
        if isinstance(event, Choice):
            event = Choice(event.id)  # the token has done its job; handlers compare ids
        _hold(turn)
        HANDLERS.get(turn.conv.state, _idle)(turn, event)
        if picked is not None and turn.entered:  # a typed pick was taken: say which
            turn.echoes.insert(0, picked)
    if turn.reprompt or not turn.replies:
        prompts.ask_current(turn)
    if not turn.replies:  # only START has no question of its own: every message gets an answer
        _start_over(turn)
        prompts.ask_current(turn)
    turn.echo_first()
    turn.conv.updated_at = inbound.at.isoformat()
    return StepResult(turn.conv, turn.replies, turn.outcomes)


def file_room(conv: Conversation, at: datetime) -> int:
    """How many files the next message may bring that this conversation would keep, so a
    channel stores no more than that: only at the evidence steps (up to the draft's limit)
    and while answering an officer's question."""
    if _expired(conv, at):
        return 0
    if conv.state in (State.EVIDENCE, State.NO_EVIDENCE):
        return max(prompts.MAX_EVIDENCE - len(conv.draft.evidence), 0)
    if conv.state == State.INFO_ANSWER:
        return prompts.MAX_EVIDENCE
    return 0


def current_question(conv: Conversation, caps: Capabilities, at: datetime) -> list[Reply]:
    """The question the conversation is waiting on, asked again as it was (a console
    started anew shows where the reporter was). Changes nothing; none when the report
    has expired (the next message offers to resume it) or nothing is in progress."""
    if conv.state in IDLE_STATES or _expired(conv, at):
        return []
    turn = Turn(conv.copy(), Inbound("", "", "", Text(""), at, caps=caps))
    prompts.ask_current(turn)
    return turn.replies


def _expired(conv: Conversation, at: datetime) -> bool:
    if conv.state in IDLE_STATES or conv.state in (State.CONSENT, State.RESUME, State.INFO_ANSWER) \
            or not conv.updated_at:
        return False
    return at - datetime.fromisoformat(conv.updated_at) > TTL


def _is_command(event: Answer, *names: str) -> bool:
    return isinstance(event, Command) and COMMANDS.get(event.name.lower()) in names


def _hold(turn: Turn) -> None:
    """Short links the channel could not follow: kept with the report (or the answer to an
    officer) for the moderators only, and the reporter asked once for the real address."""
    held = list(dict.fromkeys(turn.held_links))
    if not held:
        return
    info = turn.conv.info
    if turn.conv.state == State.INFO_ANSWER and info is not None:
        turn.outcomes.append(InfoAnswered(info["request"], info["case"], None,
                                          tuple(links.link_item(url, held=True) for url in held), turn.now.isoformat()))
        info["answered"] = True
        if not info.get("link_asked"):
            info["link_asked"] = True
            links.ask_for_address(turn)
        return
    if turn.conv.state in links.NOT_IN_REPORT:
        return
    draft = turn.conv.draft
    known = {item.get("url") for item in draft.evidence}
    fresh = [url for url in held if url not in known][:max(prompts.MAX_EVIDENCE - len(draft.evidence), 0)]
    draft.evidence.extend(links.link_item(url, held=True) for url in fresh)
    if fresh:
        draft.no_evidence_confirmed = False
    if not draft.link_asked:
        draft.link_asked = True
        links.ask_for_address(turn)


def _as_choice(conv: Conversation, event: Event) -> tuple[Answer, str | None]:
    """Text that answers the offered list is a choice: "2", "2.", the label in any case, the
    option's id or one of its aliases ("ya", "pemda"); where only a pick makes sense, also a
    typo of them or the words of an option's explanation (`flows.matching`). Returns the
    answer and, for a pick that was not the label typed out, the label to echo. A number no
    option has is out of range where options are picked, and asked about where words are
    wanted; two or three close matches are offered to choose from, never guessed."""
    if not isinstance(event, Text):
        return event, None
    typed = matching.fold(event.text)
    number = re.fullmatch(r"(\d{1,3})\.?", typed)
    if number:
        index = int(number.group(1)) - 1
        if 0 <= index < len(conv.offered):
            return Choice(conv.offered[index][0]), conv.offered[index][1]
        if conv.state in WORDS_WANTED:
            return BareNumber(index + 1), None
        if conv.offered and conv.state not in TEXT_STATES:
            return OutOfRange(index + 1, len(conv.offered)), None
        return event, None
    if not conv.offered:
        return event, None
    if conv.state in TEXT_STATES or conv.state in SEARCH_STATES:  # any text is an answer: exact words only
        found = matching.exact(event.text, _candidates(conv))
        if found.one is None:
            return event, None
        return Choice(found.one), None if found.literal else _label_of(conv, found.one)
    found = matching.match(event.text, _candidates(conv))
    if found.one is not None:
        return Choice(found.one), None if found.literal else _label_of(conv, found.one)
    if found.ids:
        return CloseMatches(found.ids), None
    return event, None


def _candidates(conv: Conversation) -> list[matching.Candidate]:
    if conv.matchable:
        return [matching.Candidate(option_id, label, tuple(aliases), explanation)
                for option_id, label, explanation, *aliases in conv.matchable]
    return [matching.Candidate(option_id, label, tuple(aliases)) for option_id, label, *aliases in conv.offered]


def _label_of(conv: Conversation, option_id: str) -> str:
    return next((c.label for c in _candidates(conv) if c.id == option_id), option_id)


def _offered_options(conv: Conversation) -> list[Option]:
    return [Option(option_id, label) for option_id, label, *_aliases in conv.offered]


# --- commands -------------------------------------------------------------------------

def _command(turn: Turn, event: Command) -> None:
    _ = turn._
    action = COMMANDS.get(event.name.lower())
    in_progress = turn.conv.state not in IDLE_STATES
    if turn.conv.state == State.INFO_ANSWER and action in ("cancel", "back", "start"):
        info_answer.finish(turn)  # leave the question first; /mulai then starts over
        if action != "start":
            return
        in_progress = turn.conv.state not in IDLE_STATES
    if action == "start":
        if turn.conv.state == State.CONFIRM_RESTART:
            turn.reprompt = True
        elif in_progress and _has_answers(turn.conv.draft):
            turn.goto(State.CONFIRM_RESTART)
        else:
            _start_over(turn)
    elif action == "cancel" and turn.conv.state in DECLINED_BY_CANCEL:  # "batal": no, don't
        declined = DECLINED_BY_CANCEL[turn.conv.state]
        turn.echoes.extend(label for option_id, label, *_aliases in turn.conv.offered if option_id == declined)
        HANDLERS[turn.conv.state](turn, Choice(declined))
    elif action == "cancel":
        if in_progress and turn.conv.state != State.CONSENT:
            if turn.conv.state != State.CONFIRM_CANCEL:
                turn.goto(State.CONFIRM_CANCEL)
            else:
                turn.reprompt = True
        elif turn.conv.state == State.CONSENT:
            turn.reset()
            turn.goto(State.START, remember=False)
            turn.say(_("Nothing was saved. Send /mulai whenever you want to report."))
        else:
            turn.say(_("There is no report in progress. Send /mulai to start one."))
    elif action == "back":
        if not turn.back():
            turn.hint(_("This is the first step; there is nothing to go back to."))
        elif turn.conv.state == State.START:
            _start_over(turn)
    elif action == "help":
        turn.say(_help_for(turn))
        turn.reprompt = in_progress
    elif action == "language":
        turn.goto(State.LANGUAGE)
    elif action == "erase":
        turn.goto(State.CONFIRM_ERASE)
    elif action == "status":
        turn.say(_("Send /status followed by your case number, for example /status LN-24-7K3Q9."))
    else:
        turn.hint(_("I don't know that command. Send /bantuan to see what you can do."))


def _help_for(turn: Turn) -> str:
    _ = turn._
    dates = _("Type a date such as 19/11/2024, 19-11-2024, 19 November 2024, 28 nov, \"yesterday\" or "
              "\"2 days ago\".")
    specific = {
        State.PROVINCE: _("Pick from the list, or type a name such as \"Denpasar\", \"Kab Badung\" or \"Jakarta\"."),
        State.REGENCY: _("Pick from the list, or type a name such as \"Denpasar\", \"Kab Badung\" or \"Jakarta\"."),
        State.OCCURRED_ON: dates,
        State.LEARNED_ON: dates,
        State.IDENTITY: _("Anonymous is safest. Choose Open only if you agree that the officer sees your name and phone."),
    }.get(turn.conv.state)
    if turn.conv.state == State.EVIDENCE:
        specific = _("Send photos, videos, recordings, documents or links to posts, one by one or as an album, "
                     "then {done}.").format(
            done=press(_, turn.caps, prompts.evidence_options(turn), "done"))
    general = _(
        "Commands:\n"
        "/kembali - go back one step\n"
        "/batal - cancel this report\n"
        "/mulai - start over\n"
        "/bahasa - change language\n"
        "/status - check a report you sent\n"
        "/data_saya - see what we store about you\n"
        "/hapus_data - erase your data\n"
        "/bantuan - this help"
    )
    return f"{specific}\n\n{general}" if specific else general


def _has_answers(draft: Draft) -> bool:
    """Whether starting over would lose something the reporter typed."""
    return replace(draft, consent_at=None) != Draft()


def _start_over(turn: Turn) -> None:
    """A new report. Consent is asked only of a chat that has not agreed to the current notice."""
    turn.reset()
    if turn.facts.agreed_at:
        turn.conv.draft.consent_at = turn.facts.agreed_at
        turn.goto(State.PROVINCE, remember=False)
    else:
        turn.goto(State.CONSENT, remember=False)


# --- handlers, one per state ----------------------------------------------------------

def _idle(turn: Turn, event: Event) -> None:
    """START (and anything unexpected): every message begins with the welcome, or for a
    reporter who agreed before, a short welcome back."""
    _start_over(turn)
    if turn.conv.state != State.CONSENT:
        prompts.welcome_back(turn)


def _wrong_kind(turn: Turn, event: Event) -> None:
    """The event is not what this step takes: say what is expected and ask again."""
    _ = turn._
    if isinstance(event, Media) and any(item.kind == "audio" for item in event.items):
        turn.hint(_("I can't listen to recordings at this step. Please type your answer; you can send "
                    "recordings with the evidence, at the evidence step."))
    elif isinstance(event, Media):
        turn.hint(_("I can't use a file at this step. You can send evidence at the evidence step."))
    elif isinstance(event, Location):
        turn.hint(_("A location pin is only used at the step that asks where it happened."))
    elif isinstance(event, Contact):
        turn.hint(_("A contact is only used when we ask for your phone number."))
    elif isinstance(event, Unsupported) and event.what in ("voice", "audio", "video_note"):
        turn.hint(_("I can't listen to recordings at this step. Please type your answer; you can send "
                    "recordings with the evidence, at the evidence step."))
    elif isinstance(event, Unsupported):
        turn.hint(_("Sorry, I can't use that here."))
    elif isinstance(event, Choice):
        turn.hint(_("Please choose one of the options below."))
    elif isinstance(event, Text) and not event.text.strip():
        turn.hint(_("Please type an answer."))
    else:
        turn.hint(pick_hint(_, turn.caps, [label for _id, label, *_aliases in turn.conv.offered]))


def _text(turn: Turn, event: Event, field: str, minimum: int = 1) -> str | None:
    """The typed answer for a free-text field, or None after a hint."""
    if not isinstance(event, Text):
        _wrong_kind(turn, event)
        return None
    value = " ".join(event.text.split()) if field != "description" else event.text.strip()
    maximum = MAX_LENGTHS[field]
    if len(value) > maximum:
        turn.hint(turn._("That is too long: at most {max} characters. Please shorten it.").format(max=maximum))
        return None
    if len(value) < minimum:
        if minimum > 1:
            turn.hint(turn._("Please write a bit more: at least {min} characters (now {n}).")
                      .format(min=minimum, n=len(value)))
        else:
            turn.hint(turn._("Please type an answer."))
        return None
    return value


def _consent(turn: Turn, event: Event) -> None:
    at = turn.now.isoformat()
    if event == Choice("agree"):
        turn.conv.draft.consent_at = at
        turn.outcomes.append(ConsentGiven(at))
        turn.goto(State.PROVINCE, remember=False)
    elif event == Choice("decline"):
        turn.reset()
        turn.outcomes.append(ConsentRefused(at))
        turn.goto(State.START, remember=False)
        turn.reprompt = False
        if turn.facts.known:  # they agreed to an earlier notice: what they gave then is still kept
            turn.say(turn._(
                "Understood. We will not take a new report without your agreement. What you gave us before "
                "is still kept as you agreed then: send /data_saya to see it, or /hapus_data to erase it. "
                "Send /mulai if you change your mind."))
        else:
            turn.say(turn._("Understood. Nothing about you has been stored. Send /mulai if you change your mind."))
    else:
        _wrong_kind(turn, event)


def _pick_region(turn: Turn, region: regions.Region) -> None:
    draft = turn.conv.draft
    if region.is_province:
        draft.province_code, draft.region_code = region.code, None
        turn.advance(State.REGENCY)
    else:
        draft.province_code, draft.region_code = region.province_code, region.code
        if turn.conv.state == State.PROVINCE:
            turn.goto(State.REGENCY)
        turn.advance(State.AGENCY_GROUP)


def _page(turn: Turn, event: Event) -> bool:
    if event == Choice(prompts.NAV_NEXT):
        turn.conv.page += 1
    elif event == Choice(prompts.NAV_PREV):
        turn.conv.page = max(0, turn.conv.page - 1)
    elif event != Choice(prompts.NAV_LIST):
        return False
    turn.conv.matches = []  # a page of the whole list, not of the few close to a typed answer
    turn.reprompt = True
    return True


def _region_search(turn: Turn, event: Text, within: str | None) -> None:
    found = regions.search(event.text, within=within)
    if not found:
        query = " ".join(event.text.split())[:60]
        turn.hint(turn._("I couldn't find \"{query}\". Check the spelling or pick from the list.")
                  .format(query=query))
    elif len(found) == 1:
        _pick_region(turn, found[0])
        region = found[0]
        turn.echo(summary.region_label(region.province_code, region.code) if not region.is_province else region.name)
    else:
        turn.conv.matches = [r.code for r in found]
        turn.reprompt = True


def _province(turn: Turn, event: Event) -> None:
    if _page(turn, event):
        return
    if isinstance(event, Choice):
        region = regions.get(event.id)
        if region and (region.is_province or event.id in turn.conv.matches):
            _pick_region(turn, region)
            return
    if isinstance(event, Text) and event.text.strip():
        _region_search(turn, event, None)
        return
    _wrong_kind(turn, event)


def _regency(turn: Turn, event: Event) -> None:
    draft = turn.conv.draft
    if _page(turn, event):
        return
    if event == Choice("province"):
        draft.region_code = draft.province_code
        turn.advance(State.AGENCY_GROUP)
        return
    if isinstance(event, Choice):
        region = regions.get(event.id)
        if region and not region.is_province and (
            region.province_code == draft.province_code or event.id in turn.conv.matches
        ):
            _pick_region(turn, region)
            return
    if isinstance(event, Text) and event.text.strip():
        _region_search(turn, event, draft.province_code)
        return
    _wrong_kind(turn, event)


def _agency_group(turn: Turn, event: Event) -> None:
    group = menus.agency_group(event.id) if isinstance(event, Choice) else None
    if group is None:
        _wrong_kind(turn, event)
        return
    draft = turn.conv.draft
    if draft.agency_group != group.id:
        draft.agency_unit = None
    draft.agency_group = group.id
    if draft.incident_type and not menus.find(menus.incident_types(group.id), draft.incident_type):
        draft.incident_type = None  # a civil servant's breach, and the person is not one: asked again
    if not group.asn:
        draft.person_status = menus.NOT_ASN.id
    elif draft.person_status == menus.NOT_ASN.id:
        draft.person_status = None  # an ASN agency now: the status is asked
    turn.advance(State.AGENCY_UNIT if group.units else State.AGENCY_NAME)


def _agency_unit(turn: Turn, event: Event) -> None:
    group = menus.agency_group(turn.conv.draft.agency_group)
    unit = menus.find(group.units, event.id) if group and isinstance(event, Choice) else None
    if unit is None:
        _wrong_kind(turn, event)
        return
    turn.conv.draft.agency_unit = unit.id
    turn.advance(State.AGENCY_NAME)


def _optional_text(turn: Turn, event: Event, field: str, skip_id: str, next_state: State) -> None:
    """A free-text answer that may be skipped with one option (stored as None)."""
    if event == Choice(skip_id):
        setattr(turn.conv.draft, field, None)
        turn.advance(next_state)
        return
    value = _text(turn, event, field)
    if value is not None:
        setattr(turn.conv.draft, field, value)
        turn.advance(next_state)


def _agency_name(turn: Turn, event: Event) -> None:
    _optional_text(turn, event, "agency_name", "unknown", State.PERSON_NAME)
    if turn.conv.state == State.SUMMARY and turn.conv.draft.person_status is None:
        turn.conv.editing = "person"  # the agency changed to one where the status is asked
        turn.goto(State.PERSON_STATUS)
    elif turn.conv.state == State.SUMMARY and turn.conv.draft.incident_type is None:
        turn.conv.editing = "incident"  # the agency changed to one where that kind is not offered
        turn.goto(State.INCIDENT_TYPE)


def _person_name(turn: Turn, event: Event) -> None:
    _optional_text(turn, event, "person_name", "unknown", State.PERSON_POSITION)


def _after_position(turn: Turn) -> State:
    """The employment status is asked only where people are ASN."""
    group = menus.agency_group(turn.conv.draft.agency_group)
    return State.PERSON_STATUS if group is None or group.asn else State.INCIDENT_TYPE


def _person_position(turn: Turn, event: Event) -> None:
    group = menus.agency_group(turn.conv.draft.agency_group)
    position = menus.find(group.positions, event.id) if group and isinstance(event, Choice) else None
    if position is not None:
        turn.conv.draft.person_position = turn._(position.label)
        turn.advance(_after_position(turn))
        return
    _optional_text(turn, event, "person_position", "skip", _after_position(turn))


def _menu_answer(turn: Turn, event: Event, items: tuple[menus.MenuItem, ...], field: str,
                 next_state: State) -> None:
    item = menus.find(items, event.id) if isinstance(event, Choice) else None
    if item is None:
        _wrong_kind(turn, event)
        return
    setattr(turn.conv.draft, field, item.id)
    turn.advance(next_state)


def _person_status(turn: Turn, event: Event) -> None:
    _menu_answer(turn, event, menus.PERSON_STATUSES, "person_status", State.INCIDENT_TYPE)


def _incident_type(turn: Turn, event: Event) -> None:
    if _page(turn, event):
        return
    _menu_answer(turn, event, menus.incident_types(turn.conv.draft.agency_group), "incident_type", State.OCCURRED_ON)


def _typed_date(turn: Turn, event: Event, extra: dict[str, date]) -> date | None:
    """A date from a button or typed text; None after a hint. Future dates are refused."""
    _ = turn._
    today = turn.now.date()
    if isinstance(event, Choice) and event.id in extra:
        return extra[event.id]
    if isinstance(event, Choice) and event.id in ("today", "yesterday"):
        return today if event.id == "today" else today - timedelta(days=1)
    if not isinstance(event, Text):
        _wrong_kind(turn, event)
        return None
    typed = read_date(event.text, today)
    parsed = typed.value
    if typed.problem == "impossible":
        turn.hint(_("That date does not exist. Please check the day and the month."))
        return None
    if parsed is None:
        turn.hint(_("I didn't understand that date. Type it like 19/11/2024, 28 nov or \"2 days ago\"."))
        return None
    if parsed > today:
        turn.hint(_("That date is in the future. Please give the date it happened."))
        return None
    if parsed.year < 2000:
        turn.hint(_("That date is too long ago. Please check the year."))
        return None
    return parsed


def _occurred_on(turn: Turn, event: Event) -> None:
    value = _typed_date(turn, event, {})
    if value is not None:
        turn.conv.draft.occurred_on = value.isoformat()
        _echo_date(turn, event, value)
        turn.advance(State.LEARNED_ON)


def _echo_date(turn: Turn, event: Event, value: date) -> None:
    """A typed date ("3 hari lalu", "28 nov") is said back as the day it was read as."""
    if isinstance(event, Text):
        turn.echo(long_date(value, turn.conv.locale))


def _learned_on(turn: Turn, event: Event) -> None:
    draft = turn.conv.draft
    occurred = date.fromisoformat(draft.occurred_on) if draft.occurred_on else turn.now.date()
    value = _typed_date(turn, event, {"same": occurred})
    if value is None:
        return
    if value < occurred:
        turn.hint(turn._("You can't have found out before it happened ({date}). Please check the date.")
                  .format(date=long_date(occurred, turn.conv.locale)))
        return
    draft.learned_on = value.isoformat()
    _echo_date(turn, event, value)
    if (turn.now.date() - value).days > LATE_AFTER_DAYS:
        turn.say(turn._(
            "Note: you found out more than 7 days ago. Bawaslu takes reports within 7 days of "
            "an incident becoming known, so that deadline may have passed. We will still "
            "forward your report."
        ))
    turn.advance(State.PLACE)


def _set_pin(turn: Turn, event: Location) -> bool:
    if not (-90 <= event.latitude <= 90 and -180 <= event.longitude <= 180):
        options = prompts.place_pin_options(turn) if turn.conv.state == State.PLACE_PIN else []
        if options:
            turn.hint(turn._("That location is not valid. Please send it again or {skip}.").format(
                skip=press(turn._, turn.caps, options, "skip")))
        else:
            turn.hint(turn._("That location is not valid. Please send it again."))
        return False
    turn.conv.draft.latitude, turn.conv.draft.longitude = event.latitude, event.longitude
    return True


def _place(turn: Turn, event: Event) -> None:
    if isinstance(event, Location):
        if not _set_pin(turn, event):
            return
        if event.address and event.address.strip():
            turn.conv.draft.place = " ".join(event.address.split())[: MAX_LENGTHS["place"]]
            turn.advance(State.DESCRIPTION)
        else:
            turn.hint(turn._("Location received. Now describe the place in a few words."))
        return
    value = _text(turn, event, "place", minimum=3)
    if value is not None:
        turn.conv.draft.place = value
        turn.advance(State.PLACE_PIN)


def _place_pin(turn: Turn, event: Event) -> None:
    if event == Choice("skip"):
        turn.conv.draft.latitude = turn.conv.draft.longitude = None
        turn.advance(State.DESCRIPTION)
    elif event == Choice("keep") and turn.conv.draft.latitude is not None:
        turn.advance(State.DESCRIPTION)
    elif isinstance(event, Location):
        if _set_pin(turn, event):
            turn.advance(State.DESCRIPTION)
    elif isinstance(event, Text) and event.text.strip() and turn.conv.draft.latitude is None:
        turn.hint(turn._("Please send a location pin, or {skip}.").format(
            skip=press(turn._, turn.caps, prompts.place_pin_options(turn), "skip")))
    else:
        _wrong_kind(turn, event)


def _description(turn: Turn, event: Event) -> None:
    value = _text(turn, event, "description", minimum=MIN_DESCRIPTION)
    if value is not None:
        turn.conv.draft.description = value
        turn.advance(State.WITNESSES)


def _witnesses(turn: Turn, event: Event) -> None:
    _optional_text(turn, event, "witnesses", "skip", State.EVIDENCE)


def _file_key(item: MediaItem | dict[str, object]) -> object:
    """The same item, however it arrived: a file by its content hash where known, a link
    by its address, a forwarded message by its text and origin."""
    if isinstance(item, dict):
        if item.get("kind") == "link":
            return ("link", item.get("url"))
        if item.get("kind") == "message":
            return ("message", item.get("text"), item.get("origin"))
        return item.get("sha256") or item.get("unique_ref") or item.get("ref")
    return item.sha256 or item.unique_ref or item.ref


def _media_items(event: Media) -> list[dict[str, object]]:
    return [{"kind": i.kind, "ref": i.ref, "unique_ref": i.unique_ref, "mime": i.mime, "size": i.size,
             "sha256": i.sha256, "file_name": i.file_name} for i in event.items]


def _evidence(turn: Turn, event: Event) -> None:
    draft = turn.conv.draft
    if isinstance(event, Media):
        _add_evidence(turn, _media_items(event))
    elif isinstance(event, Forwarded):
        _add_evidence(turn, [links.message_item(event, turn.now.tzinfo)])
    elif isinstance(event, Text) and (found := links.links_in(event.text)):
        _add_evidence(turn, found)
    elif isinstance(event, Text) and turn.held_links:
        turn.reprompt = True  # kept already (`_hold`); the question says how many items there are
    elif event == Choice("done"):
        turn.advance(State.IDENTITY if draft.evidence else State.NO_EVIDENCE)
    elif event == Choice("clear") and draft.evidence:
        turn.goto(State.CONFIRM_CLEAR)
    else:
        _wrong_kind(turn, event)


def _add_evidence(turn: Turn, items: list[dict[str, object]]) -> None:
    """Files, links and forwarded messages: each counts once, up to the report's limit."""
    draft = turn.conv.draft
    seen = {_file_key(e) for e in draft.evidence}
    fresh = []
    for item in items:
        if _file_key(item) not in seen:
            seen.add(_file_key(item))
            fresh.append(item)
    repeated = len(items) - len(fresh)
    room = prompts.MAX_EVIDENCE - len(draft.evidence)
    accepted = fresh[:max(room, 0)]
    draft.evidence.extend(accepted)
    if accepted:
        draft.no_evidence_confirmed = False
        _cautions(turn, accepted)
    refused = len(fresh) - len(accepted)
    turn.reprompt = True
    if repeated:
        turn.say(turn.ngettext(
            "{n} item was already there; it counts once.",
            "{n} items were already there; each counts once.",
            repeated,
        ).format(n=repeated))
    if refused:
        turn.say(turn.ngettext(
            "You can send at most {max} items of evidence; {n} item was not saved.",
            "You can send at most {max} items of evidence; {n} items were not saved.",
            refused,
        ).format(max=prompts.MAX_EVIDENCE, n=refused))


def _cautions(turn: Turn, accepted: list[dict[str, object]]) -> None:
    """One line each, once per report, unless the reporter has chosen to be named: a
    recording may carry their own voice, a video (a round video note is a selfie) their face;
    a screenshot their own name or notifications."""
    draft = turn.conv.draft
    if draft.identity_mode == "terbuka":
        return
    kinds = {item.get("kind") for item in accepted}
    if kinds & {"audio", "video"} and "recording" not in draft.cautions:
        draft.cautions.append("recording")
        turn.say(turn._("Note: a video can carry your own face and voice, and your reflection in a glass or a "
                        "screen. If you want to stay unknown, check that none of them can be seen or heard in it.")
                 if "video" in kinds else
                 turn._("Note: a recording can carry your own voice. If you want to stay unknown, check that "
                        "your voice cannot be heard in it."))
    if "photo" in kinds and "image" not in draft.cautions:
        draft.cautions.append("image")
        turn.say(turn._("Note: check that your photo or screenshot shows no name, number or notification of your own."))


def _confirm_clear(turn: Turn, event: Event) -> None:
    """Removing the files is asked first, and then said with their number."""
    if event == Choice("yes"):
        count = len(turn.conv.draft.evidence)
        turn.conv.draft.evidence = []
        turn.back()
        turn.say(turn.ngettext("{n} item removed.", "{n} items removed.", count).format(n=count))
    elif event == Choice("no"):
        turn.back()
    else:
        _wrong_kind(turn, event)


def _no_evidence(turn: Turn, event: Event) -> None:
    if event == Choice("none"):
        turn.conv.draft.no_evidence_confirmed = True
        turn.advance(State.IDENTITY)
    elif event == Choice("add"):
        turn.back()
    elif isinstance(event, (Media, Forwarded)) or (isinstance(event, Text) and (
            turn.held_links or links.links_in(event.text))):
        turn.back()
        _evidence(turn, event)
    else:
        _wrong_kind(turn, event)


def _identity(turn: Turn, event: Event) -> None:
    mode = menus.find(menus.IDENTITY_MODES, event.id) if isinstance(event, Choice) else None
    if mode is None:
        _wrong_kind(turn, event)
        return
    draft = turn.conv.draft
    draft.identity_mode = mode.id
    if mode.id == "anonim":
        draft.reporter_name = draft.reporter_phone = None
        turn.advance(State.SUMMARY)
    else:
        turn.goto(State.REPORTER_NAME)


def _reporter_name(turn: Turn, event: Event) -> None:
    value = _text(turn, event, "reporter_name", minimum=2)
    if value is not None:
        turn.conv.draft.reporter_name = value
        turn.goto(State.REPORTER_PHONE)


def normalize_phone(text: str) -> str | None:
    """An Indonesian or international number as +<digits>, or None."""
    raw = re.sub(r"[\s\-().]", "", text)
    if not re.fullmatch(r"\+?\d{8,15}", raw):
        return None
    if raw.startswith("+"):
        return raw
    if raw.startswith("0"):
        return "+62" + raw[1:]
    if raw.startswith("62"):
        return "+" + raw
    return None


def _reporter_phone(turn: Turn, event: Event) -> None:
    if isinstance(event, Contact):
        typed = event.phone
    elif isinstance(event, Text):
        typed = event.text
    else:
        _wrong_kind(turn, event)
        return
    phone = normalize_phone(typed)
    if phone is None:
        turn.hint(turn._("That doesn't look like a phone number. Type it like 081234567890."))
        return
    turn.conv.draft.reporter_phone = phone
    turn.echo(phone)  # as stored: a number read wrongly shows here, not in an officer's hands
    turn.goto(State.SUMMARY)


def missing_sections(draft: Draft) -> list[str]:
    """The sections that still lack something a case must have, in flow order."""
    missing = []
    if not (draft.province_code and draft.region_code):
        missing.append("region")
    if not draft.agency_group:
        missing.append("agency")
    if not draft.person_status:
        missing.append("person")
    if not draft.incident_type:
        missing.append("incident")
    if not (draft.occurred_on and draft.learned_on):
        missing.append("dates")
    if not draft.place:
        missing.append("place")
    if not draft.description or len(draft.description) < MIN_DESCRIPTION:
        missing.append("description")
    if not draft.evidence and not draft.no_evidence_confirmed:
        missing.append("evidence")
    if not draft.identity_mode or (
        draft.identity_mode != "anonim" and not (draft.reporter_name and draft.reporter_phone)
    ):
        missing.append("identity")
    return missing


def _summary(turn: Turn, event: Event) -> None:
    draft = turn.conv.draft
    if event == Choice("send"):
        missing = missing_sections(draft)
        if missing or not draft.consent_at:
            turn.say(turn._("Some required answers are missing. Please complete this step."))
            turn.conv.editing = missing[0] if missing else None
            turn.goto(SECTION_START[missing[0]] if missing else State.CONSENT)
            return
        number = case_number.make(turn.inbound.nonce, turn.now)
        turn.outcomes.append(CaseSubmitted(number, draft, turn.now.isoformat()))  # reset() replaces, never mutates, the draft
        region = regions.get(draft.region_code)
        turn.reset()
        turn.conv.last_case = number
        turn.goto(State.DONE, remember=False)
        turn.reprompt = False
        turn.say(_receipt(turn, number, region.name if region else "-"))
    elif event == Choice("edit"):
        turn.goto(State.EDIT)
    elif event == Choice("cancel"):
        turn.goto(State.CONFIRM_CANCEL)
    else:
        _wrong_kind(turn, event)


def _receipt(turn: Turn, number: str, region: str) -> str:
    """The thank-you says what actually happens next: the report goes to the region's
    officers now, or it waits until an officer is registered (then nothing more is sent)."""
    if turn.facts.routable:
        return turn._(
            "Thank you. Your report has been received with number {number}.\n\n"
            "What happens next: we forward it to the oversight officers for {region}. They "
            "review it and act within their authority; you will get a message here whenever "
            "its status changes.\n\n"
            "Check it at any time with /status {number}."
        ).format(number=number, region=region)
    return turn._(
        "Thank you. Your report has been received with number {number}.\n\n"
        "What happens next: no oversight officer is registered for {region} yet, so your report "
        "is kept safe and waits for an officer to be assigned. As soon as one is, we forward it "
        "and tell you here.\n\n"
        "Check it at any time with /status {number}."
    ).format(number=number, region=region)


def _edit(turn: Turn, event: Event) -> None:
    if event == Choice("back"):
        turn.goto(State.SUMMARY)
    elif isinstance(event, Choice) and event.id in SECTION_START:
        turn.conv.editing = event.id
        turn.goto(SECTION_START[event.id])
    else:
        _wrong_kind(turn, event)


def _confirm_cancel(turn: Turn, event: Event) -> None:
    if event == Choice("yes"):
        turn.reset()
        turn.goto(State.START, remember=False)
        turn.reprompt = False
        turn.say(turn._("Your report was cancelled and nothing was sent. Send /mulai to start again."))
    elif event == Choice("no"):
        turn.back()
    else:
        _wrong_kind(turn, event)


def _confirm_restart(turn: Turn, event: Event) -> None:
    if event == Choice("yes"):
        _start_over(turn)
    elif event == Choice("no"):
        turn.back()
    else:
        _wrong_kind(turn, event)


def _resume(turn: Turn, event: Event) -> None:
    if event == Choice("continue"):
        if not turn.back() or turn.conv.state == State.START:
            _start_over(turn)
    elif event == Choice("restart"):
        _start_over(turn)
    else:
        _wrong_kind(turn, event)


def _confirm_erase(turn: Turn, event: Event) -> None:
    """Erasing cannot be undone, so it is asked once more; "no" goes back to where they were."""
    if event == Choice("erase"):
        turn.outcomes.append(DataErased(turn.now.isoformat()))
        turn.reset()
        turn.goto(State.START, remember=False)
        turn.reprompt = False
        turn.say(turn._(
            "Done. Your name, phone number and chat address have been removed from our records and from "
            "your reports; the reports themselves stay, without your identity. Because your chat address is "
            "gone, you will get no more news about your reports here. Send /mulai if you want to use the "
            "service again."))
    elif event == Choice("keep"):
        if not turn.back() or turn.conv.state == State.START:
            turn.goto(State.START, remember=False)
            turn.say(turn._("Nothing was erased."))
    else:
        _wrong_kind(turn, event)


def _language(turn: Turn, event: Event) -> None:
    if not (isinstance(event, Choice) and event.id in LOCALES):
        _wrong_kind(turn, event)
        return
    turn.set_locale(event.id)
    turn.outcomes.append(LocaleChanged(event.id))
    turn.say(turn._("Language changed."))
    if not turn.back() or turn.conv.state == State.START:
        _start_over(turn)


def _done(turn: Turn, event: Event) -> None:
    """After a report is sent: "lapor lagi", "laporan baru", "mau lapor" start another, as
    /mulai does (right after the receipt no option is on screen, so the words are read here)."""
    asked = isinstance(event, Text) and matching.match(
        event.text, [matching.Candidate("new", turn._("New report"), menus.NEW_REPORT)]).one is not None
    if event == Choice("new") or asked:
        _start_over(turn)
        if asked:
            turn.echo(turn._("New report"))
    else:
        turn.reprompt = True


HANDLERS: dict[State, Callable[[Turn, Event], None]] = {
    State.START: _idle,
    State.CONSENT: _consent,
    State.PROVINCE: _province,
    State.REGENCY: _regency,
    State.AGENCY_GROUP: _agency_group,
    State.AGENCY_UNIT: _agency_unit,
    State.AGENCY_NAME: _agency_name,
    State.PERSON_NAME: _person_name,
    State.PERSON_POSITION: _person_position,
    State.PERSON_STATUS: _person_status,
    State.INCIDENT_TYPE: _incident_type,
    State.OCCURRED_ON: _occurred_on,
    State.LEARNED_ON: _learned_on,
    State.PLACE: _place,
    State.PLACE_PIN: _place_pin,
    State.DESCRIPTION: _description,
    State.WITNESSES: _witnesses,
    State.EVIDENCE: _evidence,
    State.NO_EVIDENCE: _no_evidence,
    State.IDENTITY: _identity,
    State.REPORTER_NAME: _reporter_name,
    State.REPORTER_PHONE: _reporter_phone,
    State.SUMMARY: _summary,
    State.EDIT: _edit,
    State.CONFIRM_CANCEL: _confirm_cancel,
    State.CONFIRM_RESTART: _confirm_restart,
    State.CONFIRM_CLEAR: _confirm_clear,
    State.CONFIRM_ERASE: _confirm_erase,
    State.RESUME: _resume,
    State.LANGUAGE: _language,
    State.INFO_ANSWER: info_answer.handle,
    State.DONE: _done,
}
assert set(HANDLERS) == set(State), "every state needs a handler"
assert set(HANDLERS) >= MODAL_STATES
