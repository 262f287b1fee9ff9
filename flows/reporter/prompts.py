"""What each state asks. A prompt reads the conversation and adds one question to the turn;
it never changes where the conversation stands."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from babel import Locale

from flows import menus, regions
from flows.i18n import LOCALES, long_date
from flows.replies import ChoicesReply, Option
from flows.reporter import info_answer, summary
from flows.reporter.conversation import State
from flows.reporter.info_answer import DONE_WORDS
from flows.reporter.turn import SAME_STEP, SECTION_ORDER, Turn, steps
from flows.reporter.wording import by_controls, press

PAGE_SIZE = 8
MAX_EVIDENCE = 10
SHORT_MENU_LIMIT = 700
"""Characters above which a menu on a small screen shows labels only (explanations on "?")."""
EXPLAINED_STATES = frozenset({State.INCIDENT_TYPE, State.AGENCY_UNIT, State.IDENTITY})

NAV_PREV = "nav:prev"
NAV_NEXT = "nav:next"
NAV_LIST = "nav:list"
MORE_WORDS = ("lainnya", "yang lain", "jenis lain", "jenis lainnya", "lebih banyak", "lihat semua", "more")


def step_prefix(turn: Turn) -> str:
    """"Step 5 of 16": every question is a step, and the total is that of this report's
    path as its answers have set it so far (a village has no office kind to ask)."""
    path = steps(turn.conv)
    state = SAME_STEP.get(turn.conv.state, turn.conv.state)
    if state not in path:
        return ""
    return turn._("Step {n} of {total}").format(n=path.index(state) + 1, total=len(path)) + "\n"


def paged(turn: Turn, items: Sequence[Option]) -> list[Option]:
    """One page of a long list, with previous/next entries where there are more."""
    pages = max(1, -(-len(items) // PAGE_SIZE))
    page = min(max(turn.conv.page, 0), pages - 1)
    options = list(items[page * PAGE_SIZE:(page + 1) * PAGE_SIZE])
    if page > 0:
        options.append(Option(NAV_PREV, turn._("« Previous")))
    if page < pages - 1:
        options.append(Option(NAV_NEXT, turn._("Next »")))
    return options


def region_options(found: Sequence[regions.Region]) -> list[Option]:
    return [Option(r.code, r.name) for r in found]


def menu_options(turn: Turn, items: Sequence[menus.MenuItem]) -> list[Option]:
    _ = turn._
    return [Option(i.id, _(i.label), _(i.explanation) if i.explanation else None, i.aliases) for i in items]


def ask_menu(turn: Turn, text: str, options: list[Option], matchable: list[Option] | None = None) -> None:
    """A menu; on a small screen a long one shows its labels only, and "?" shows the rest.
    The explanations are matched all the same."""
    length = len(text) + sum(len(o.label) + len(o.description or "") + 8 for o in options)
    shown = options
    if turn.caps.short_menus and not turn.explain and length > SHORT_MENU_LIMIT \
            and any(o.description for o in options):
        text = text + " " + turn._("(type ? for explanations)")
        shown = [replace(o, description=None) for o in options]
    turn.ask(text, shown, matchable=matchable if matchable is not None else options)


def _yes(option_id: str, label: str) -> Option:
    return Option(option_id, label, aliases=menus.YES)


def _no(option_id: str, label: str) -> Option:
    return Option(option_id, label, aliases=menus.NO)


def _skip(turn: Turn) -> Option:
    return Option("skip", turn._("Skip"), aliases=menus.SKIP)


def _dont_know(turn: Turn) -> Option:
    return Option("unknown", turn._("Don't know"), aliases=menus.DONT_KNOW)


def _done(turn: Turn) -> Option:
    return Option("done", turn._("Done"), aliases=DONE_WORDS)


def _matches(turn: Turn) -> bool:
    if not turn.conv.matches:
        return False
    found = [r for r in (regions.get(c) for c in turn.conv.matches) if r]
    turn.ask(turn._("I found more than one place with that name. Which one do you mean?"),
             [*region_options(found), Option(NAV_LIST, turn._("Show the list"))])
    return True


def _consent_options(turn: Turn) -> list[Option]:
    return [_yes("agree", turn._("I agree")), _no("decline", turn._("I do not agree"))]


def welcome(turn: Turn) -> None:
    """The welcome and the privacy notice when consent is first asked; asked again in the
    same place (a wrong answer, /bantuan), only the question, in the same words."""
    _ = turn._
    question = _("Do you agree to this privacy notice?")
    if not turn.entered:
        turn.ask(question, _consent_options(turn))
        return
    turn.say(_(
        "Welcome to Lapor Netral.\n\n"
        "Here you can report a civil servant (ASN) who is not politically neutral in the "
        "Pilkada: for example campaigning on social media, attending a candidate's rally, "
        "using office cars or budgets for a campaign, or pressuring staff to vote."
    ))
    turn.ask(_(
        "Privacy: this service is run by {operator}. We use what you tell us only to pass your "
        "report to the oversight officers (Bawaslu, BKN, Inspektorat, Ombudsman) for the region "
        "concerned. You decide whether you stay anonymous, confidential (only our moderators see "
        "your name) or open. Your identity is kept at most one year after the case is closed. "
        "Send /data_saya at any time to see what we store about you, and /hapus_data to delete it."
    ).format(operator=turn.facts.operator) + "\n\n" + question, _consent_options(turn))


def welcome_back(turn: Turn) -> None:
    turn.say(turn._("Welcome back to Lapor Netral. Here is a new report; what you agreed to before still applies."))


def province(turn: Turn) -> None:
    if _matches(turn):
        return
    _ = turn._
    turn.ask(step_prefix(turn) + _(
        "Where did it happen? Pick the province, or type the name of the province or "
        "kabupaten/kota (for example \"Denpasar\" or \"Kab Badung\")."
    ), paged(turn, region_options(regions.provinces())))


def regency(turn: Turn) -> None:
    if _matches(turn):
        return
    _ = turn._
    prov = regions.get(turn.conv.draft.province_code)
    children = region_options(regions.children(prov.code)) if prov else []
    options = paged(turn, children)
    options.append(Option("province", _("Province level / not sure")))
    turn.ask(step_prefix(turn) + _(
        "Which kabupaten/kota in {province}? Pick one or type its name."
    ).format(province=prov.name if prov else "-"), options)


def agency_group(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._("Where does the person you are reporting work?"),
             [Option(g.id, turn._(g.label), aliases=g.aliases) for g in menus.AGENCY_GROUPS])


def agency_unit(turn: Turn) -> None:
    group = menus.agency_group(turn.conv.draft.agency_group)
    units = group.units if group else ()
    ask_menu(turn, step_prefix(turn) + turn._("Which kind of office?"), menu_options(turn, units))


def _choice_made(turn: Turn) -> tuple[menus.AgencyGroup | None, menus.MenuItem | None]:
    draft = turn.conv.draft
    group = menus.agency_group(draft.agency_group)
    return group, (menus.find(group.units, draft.agency_unit) if group else None)


def office_example(turn: Turn) -> str:
    """An example name that fits the office and the region chosen."""
    group, unit = _choice_made(turn)
    example = (unit.example if unit and unit.example else None) or (group.example if group else "")
    region = regions.get(turn.conv.draft.region_code)
    place = "" if region is None else (f"Provinsi {region.name}" if region.is_province else region.name)
    return example.replace("{region}", place).strip()


def agency_name(turn: Turn) -> None:
    group, _unit = _choice_made(turn)
    question = group.name_question if group else menus.OFFICE_NAME_QUESTION
    turn.ask(step_prefix(turn) + turn._(question).format(example=office_example(turn)), [_dont_know(turn)])


def person_name(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._("What is the name of the person you are reporting?"),
             [_dont_know(turn)])


def person_position(turn: Turn) -> None:
    group, unit = _choice_made(turn)
    example = (unit.position_example if unit and unit.position_example else None) or (
        group.position_example if group else "Camat")
    positions = menu_options(turn, group.positions) if group else []
    turn.ask(step_prefix(turn) + turn._(
        "What is their position (for example \"{example}\")? You may skip this."
    ).format(example=example), [*positions, _skip(turn)])


def person_status(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._("What is their employment status?"),
             menu_options(turn, menus.PERSON_STATUSES))


def incident_type(turn: Turn) -> None:
    """The kinds that fit the person reported; the commonest first, the rest behind "More…"
    (a typed word still finds any of them)."""
    items = menus.incident_types(turn.conv.draft.agency_group)
    every = menu_options(turn, items)
    common = sorted((o for o in every if o.id in menus.COMMON_INCIDENTS), key=lambda o: menus.COMMON_INCIDENTS.index(o.id))
    if turn.conv.page == 0:
        options = [*common, Option(NAV_NEXT, turn._("More…"), aliases=MORE_WORDS)]
        text = turn._("What did they do? Pick the closest kind, or More… for other kinds.")
    else:
        options = [o for o in every if o.id not in menus.COMMON_INCIDENTS]
        options.append(Option(NAV_PREV, turn._("« Common kinds"), aliases=("kembali", "back")))
        text = turn._("Other kinds. Pick the closest one, or Other if none fits.")
    ask_menu(turn, step_prefix(turn) + text, options, matchable=[*options, *(o for o in every if o not in options)])


def _date_options(turn: Turn) -> list[Option]:
    return [Option("today", turn._("Today")), Option("yesterday", turn._("Yesterday"))]


def occurred_on(turn: Turn) -> None:
    _ = turn._
    turn.ask(step_prefix(turn) + by_controls(
        turn.caps,
        _("When did it happen? Press a button or type the date (for example 19/11/2024 or \"2 days ago\")."),
        _("When did it happen? Reply with a number or type the date (for example 19/11/2024 or \"2 days ago\")."),
    ), _date_options(turn))


def learned_on(turn: Turn) -> None:
    _ = turn._
    turn.ask(step_prefix(turn) + by_controls(
        turn.caps,
        _("When did you find out about it? Press a button or type the date."),
        _("When did you find out about it? Reply with a number or type the date."),
    ), [Option("same", _("The day it happened")), *_date_options(turn)])


def place(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._(
        "Where exactly did it happen? Describe the place (for example \"Kuta district "
        "office, Jl. Raya Kuta\")."
    ))


def place_pin_options(turn: Turn) -> list[Option]:
    _ = turn._
    if turn.conv.draft.latitude is not None:
        return [Option("keep", _("Keep the pin")), Option("skip", _("Remove the pin"))]
    return [_skip(turn)]


def place_pin(turn: Turn) -> None:
    _ = turn._
    options = place_pin_options(turn)
    if turn.conv.draft.latitude is not None:
        turn.ask(step_prefix(turn) + _(
            "A location pin is saved. Keep it, send a new one, or remove it."
        ), options, request="location")
        return
    turn.ask(step_prefix(turn) + _(
        "If you can, send a location pin of the place. Otherwise {skip}."
    ).format(skip=press(_, turn.caps, options, "skip")), options, request="location")


def description(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._(
        "What happened? Tell it in your own words: who did what, and how you know "
        "(at least 30 characters)."
    ))


def witnesses(turn: Turn) -> None:
    _ = turn._
    options = [_skip(turn)]
    turn.ask(step_prefix(turn) + _(
        "Were there witnesses? Write their names or how to reach them, or {skip}."
    ).format(skip=press(_, turn.caps, options, "skip")), options)


def evidence_options(turn: Turn) -> list[Option]:
    options = [_done(turn)]
    if turn.conv.draft.evidence:
        options.append(Option("clear", turn._("Remove all evidence"), aliases=("hapus", "hapus semua", "clear")))
    return options


def evidence(turn: Turn) -> None:
    _ = turn._
    count = len(turn.conv.draft.evidence)
    options = evidence_options(turn)
    done = press(_, turn.caps, options, "done")
    if count >= MAX_EVIDENCE:
        text = _("You have sent the most evidence we take ({max} items). To go on, {done}; to choose other "
                 "evidence, {clear}.").format(max=MAX_EVIDENCE, done=done,
                                              clear=press(_, turn.caps, options, "clear"))
    elif count:
        text = turn.ngettext(
            "Your report now has {n} item of evidence (at most {max}). Send more, or {done}.",
            "Your report now has {n} items of evidence (at most {max}). Send more, or {done}.",
            count,
        ).format(n=count, max=MAX_EVIDENCE, done=done)
    else:
        text = _(
            "Send photos, videos, voice recordings, documents or links to posts as evidence (at most {max}). "
            "When you have sent them all, {done}."
        ).format(max=MAX_EVIDENCE, done=done)
    turn.ask(step_prefix(turn) + text, options)


def no_evidence(turn: Turn) -> None:
    turn.ask(turn._(
        "A report without evidence is weaker and harder to act on. Send it without evidence?"
    ), [_no("add", turn._("Add evidence")), _yes("none", turn._("Continue without evidence"))])


def identity(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._("Who may know who you are?"),
             menu_options(turn, menus.IDENTITY_MODES))


def reporter_name(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._("What is your full name?"))


def reporter_phone(turn: Turn) -> None:
    _ = turn._
    if turn.caps.share_contact:
        turn.ask(step_prefix(turn) + _(
            "What is your phone number (for example 081234567890)? You can also share it "
            "with the button."
        ), request="contact")
    else:
        turn.ask(step_prefix(turn) + _("What is your phone number (for example 081234567890)?"))


def summary_prompt(turn: Turn) -> None:
    _ = turn._
    turn.ask(_("Please check your report:") + "\n\n" + summary.render(turn) + "\n\n" + _("Send it?"),
             [_yes("send", _("Send")), Option("edit", _("Change something")),
              Option("cancel", _("Cancel"))])


def edit(turn: Turn) -> None:
    _ = turn._
    labels = {
        "region": _("Region"), "agency": _("Agency"), "person": _("Person reported"),
        "incident": _("Incident type"), "dates": _("Dates"), "place": _("Place"),
        "description": _("What happened"), "evidence": _("Evidence"), "identity": _("Identity"),
    }
    turn.ask(_("What do you want to change?"),
             [*(Option(s, labels[s]) for s in SECTION_ORDER), Option("back", _("Back to the summary"))])


def confirm_cancel(turn: Turn) -> None:
    turn.ask(turn._("Cancel this report? What you have entered will be deleted."),
             [_yes("yes", turn._("Yes, cancel")), _no("no", turn._("No, continue"))])


def confirm_restart(turn: Turn) -> None:
    turn.ask(turn._("Start over? What you have entered in this report will be deleted."),
             [_yes("yes", turn._("Yes, start over")), _no("no", turn._("No, continue"))])


def confirm_clear(turn: Turn) -> None:
    count = len(turn.conv.draft.evidence)
    turn.ask(turn.ngettext("Remove the {n} item of evidence you have sent?",
                           "Remove all {n} items of evidence you have sent?", count)
             .format(n=count),
             [_yes("yes", turn._("Yes, remove them")), _no("no", turn._("No, keep them"))])


def resume(turn: Turn) -> None:
    updated = turn.conv.updated_at
    when = long_date(datetime.fromisoformat(updated).date(), turn.conv.locale) if updated else "-"
    turn.ask(turn._(
        "You have an unfinished report from {date}. Continue it or start over?"
    ).format(date=when), [Option("continue", turn._("Continue"), aliases=("lanjut", "lanjutkan", *menus.YES)),
                          Option("restart", turn._("Start over"), aliases=("ulang", "dari awal", "baru"))])


def language(turn: Turn) -> None:
    turn.ask(turn._("Choose your language."),
             [Option(code, (Locale.parse(code).get_display_name(code) or code).capitalize()) for code in LOCALES])


def done(turn: Turn) -> None:
    turn.ask(turn._(
        "Your report {number} has been received. Check it with /status {number}, or make "
        "a new report."
    ).format(number=turn.conv.last_case or "-"), [Option("new", turn._("New report"), aliases=menus.NEW_REPORT)])


def confirm_erase(turn: Turn) -> None:
    _ = turn._
    turn.ask(_("Erase your data? Your name, phone number and chat address will be removed from our records "
               "and from every report you sent. The reports stay, without your identity. This cannot be undone."),
             [_yes("erase", _("Yes, erase my data")), _no("keep", _("No, keep it"))])


PROMPTS: dict[State, Callable[[Turn], None]] = {
    State.CONSENT: welcome,
    State.PROVINCE: province,
    State.REGENCY: regency,
    State.AGENCY_GROUP: agency_group,
    State.AGENCY_UNIT: agency_unit,
    State.AGENCY_NAME: agency_name,
    State.PERSON_NAME: person_name,
    State.PERSON_POSITION: person_position,
    State.PERSON_STATUS: person_status,
    State.INCIDENT_TYPE: incident_type,
    State.OCCURRED_ON: occurred_on,
    State.LEARNED_ON: learned_on,
    State.PLACE: place,
    State.PLACE_PIN: place_pin,
    State.DESCRIPTION: description,
    State.WITNESSES: witnesses,
    State.EVIDENCE: evidence,
    State.NO_EVIDENCE: no_evidence,
    State.IDENTITY: identity,
    State.REPORTER_NAME: reporter_name,
    State.REPORTER_PHONE: reporter_phone,
    State.SUMMARY: summary_prompt,
    State.EDIT: edit,
    State.CONFIRM_CANCEL: confirm_cancel,
    State.CONFIRM_RESTART: confirm_restart,
    State.CONFIRM_CLEAR: confirm_clear,
    State.CONFIRM_ERASE: confirm_erase,
    State.RESUME: resume,
    State.LANGUAGE: language,
    State.INFO_ANSWER: info_answer.prompt,
    State.DONE: done,
}


def ask_current(turn: Turn) -> None:
    prompt = PROMPTS.get(turn.conv.state)
    if prompt is not None:
        prompt(turn)
    if turn.conv.matches and turn.conv.state not in (State.PROVINCE, State.REGENCY):
        _narrowed(turn)


def _narrowed(turn: Turn) -> None:
    """The question just asked, narrowed to the two or three options a typed answer was
    close to, with a way back to all of them; a typed answer may still pick any option."""
    asked = turn.replies[-1] if turn.replies else None
    if not isinstance(asked, ChoicesReply):
        return
    pool = [Option(o[0], o[1], o[2] or None, tuple(o[3:])) for o in turn.conv.matchable] or list(asked.options)
    close = [o for o in pool if o.id in turn.conv.matches]
    if not close:
        return
    turn.replies.pop()
    turn.ask(turn._("Which one do you mean?"), [*close, Option(NAV_LIST, turn._("None of these: show all"))],
             matchable=pool)
