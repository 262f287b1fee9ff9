"""What each state asks. A prompt reads the conversation and adds one question to the turn;
it never changes where the conversation stands."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from babel import Locale

from flows import menus, regions
from flows.reporter import info_answer, summary
from flows.reporter.conversation import State
from flows.i18n import LOCALES, long_date
from flows.replies import Option
from flows.reporter.turn import SECTION_ORDER, SECTIONS, Turn

PAGE_SIZE = 8
MAX_EVIDENCE = 10
TOTAL_STEPS = len(SECTION_ORDER)

NAV_PREV = "nav:prev"
NAV_NEXT = "nav:next"
NAV_LIST = "nav:list"


def step_prefix(turn: Turn) -> str:
    section = SECTIONS.get(turn.conv.state)
    if section is None:
        return ""
    number = SECTION_ORDER.index(section) + 1
    return turn._("Step {n} of {total}").format(n=number, total=TOTAL_STEPS) + "\n"


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
    return [Option(i.id, _(i.label), _(i.explanation) if i.explanation else None) for i in items]


def _matches(turn: Turn) -> bool:
    if not turn.conv.matches:
        return False
    found = [r for r in (regions.get(c) for c in turn.conv.matches) if r]
    turn.ask(turn._("I found more than one place with that name. Which one do you mean?"),
             [*region_options(found), Option(NAV_LIST, turn._("Show the list"))])
    return True


def welcome(turn: Turn) -> None:
    _ = turn._
    turn.say(_(
        "Welcome to Lapor Netral.\n\n"
        "Here you can report a civil servant (ASN) who is not politically neutral in the "
        "Pilkada: for example campaigning on social media, attending a candidate's rally, "
        "using office cars or budgets for a campaign, or pressuring staff to vote."
    ))
    turn.ask(_(
        "Privacy: we use what you tell us only to pass your report to the oversight officers "
        "(Bawaslu, BKN, Inspektorat, Ombudsman) for the region concerned. You decide whether "
        "you stay anonymous, confidential (only our moderators see your name) or open. Your "
        "identity is kept at most one year after the case is closed, and you may ask to see "
        "or delete it at any time.\n\n"
        "Do you agree to this?"
    ), [Option("agree", _("I agree")), Option("decline", _("I do not agree"))])


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
             [Option(g.id, turn._(g.label)) for g in menus.AGENCY_GROUPS])


def agency_unit(turn: Turn) -> None:
    group = menus.agency_group(turn.conv.draft.agency_group)
    units = group.units if group else ()
    turn.ask(step_prefix(turn) + turn._("Which kind of office?"), menu_options(turn, units))


def agency_name(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._(
        "Type the name of the office (for example \"Dinas Pendidikan Kabupaten Badung\")."
    ), [Option("unknown", turn._("Don't know"))])


def person_name(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._("What is the name of the person you are reporting?"),
             [Option("unknown", turn._("Don't know"))])


def person_position(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._(
        "What is their position (for example \"Camat\" or \"teacher\")? You may skip this."
    ), [Option("skip", turn._("Skip"))])


def person_status(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._("What is their employment status?"),
             menu_options(turn, menus.PERSON_STATUSES))


def incident_type(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._("What did they do? Pick the closest type."),
             menu_options(turn, menus.INCIDENT_TYPES))


def _date_options(turn: Turn) -> list[Option]:
    return [Option("today", turn._("Today")), Option("yesterday", turn._("Yesterday"))]


def occurred_on(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._(
        "When did it happen? Press a button or type the date (for example 19/11/2024)."
    ), _date_options(turn))


def learned_on(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._(
        "When did you find out about it? Press a button or type the date."
    ), [Option("same", turn._("The day it happened")), *_date_options(turn)])


def place(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._(
        "Where exactly did it happen? Describe the place (for example \"Kuta district "
        "office, Jl. Raya Kuta\")."
    ))


def place_pin(turn: Turn) -> None:
    _ = turn._
    if turn.conv.draft.latitude is not None:
        turn.ask(step_prefix(turn) + _(
            "A location pin is saved. Keep it, send a new one, or remove it."
        ), [Option("keep", _("Keep the pin")), Option("skip", _("Remove the pin"))], request="location")
        return
    turn.ask(step_prefix(turn) + _(
        "If you can, send a location pin of the place. Otherwise press Skip."
    ), [Option("skip", _("Skip"))], request="location")


def description(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._(
        "What happened? Tell it in your own words: who did what, and how you know "
        "(at least 30 characters)."
    ))


def witnesses(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._(
        "Were there witnesses? Write their names or how to reach them, or press Skip."
    ), [Option("skip", turn._("Skip"))])


def evidence(turn: Turn) -> None:
    _ = turn._
    count = len(turn.conv.draft.evidence)
    options = [Option("done", _("Done"))]
    if count:
        text = turn.ngettext(
            "You have sent {n} file of at most {max}. Send more, or press Done.",
            "You have sent {n} files of at most {max}. Send more, or press Done.",
            count,
        ).format(n=count, max=MAX_EVIDENCE)
        options.append(Option("clear", _("Remove all files")))
    else:
        text = _(
            "Send photos, videos or documents as evidence (at most {max}). "
            "Press Done when you have sent them all."
        ).format(max=MAX_EVIDENCE)
    turn.ask(step_prefix(turn) + text, options)


def no_evidence(turn: Turn) -> None:
    turn.ask(turn._(
        "A report without evidence is weaker and harder to act on. Send it without evidence?"
    ), [Option("add", turn._("Add evidence")), Option("none", turn._("Continue without evidence"))])


def identity(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._("How should we treat your identity?"),
             menu_options(turn, menus.IDENTITY_MODES))


def reporter_name(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._("What is your full name?"))


def reporter_phone(turn: Turn) -> None:
    turn.ask(step_prefix(turn) + turn._(
        "What is your phone number (for example 081234567890)? You can also share it "
        "with the button."
    ), request="contact")


def summary_prompt(turn: Turn) -> None:
    _ = turn._
    turn.ask(_("Please check your report:") + "\n\n" + summary.render(turn) + "\n\n" + _("Send it?"),
             [Option("send", _("Send")), Option("edit", _("Change something")),
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
             [Option("yes", turn._("Yes, cancel")), Option("no", turn._("No, continue"))])


def resume(turn: Turn) -> None:
    updated = turn.conv.updated_at
    when = long_date(datetime.fromisoformat(updated).date(), turn.conv.locale) if updated else "-"
    turn.ask(turn._(
        "You have an unfinished report from {date}. Continue it or start over?"
    ).format(date=when), [Option("continue", turn._("Continue")),
                          Option("restart", turn._("Start over"))])


def language(turn: Turn) -> None:
    turn.ask(turn._("Choose your language."),
             [Option(code, (Locale.parse(code).get_display_name(code) or code).capitalize()) for code in LOCALES])


def done(turn: Turn) -> None:
    turn.ask(turn._(
        "Your report {number} has been received. Check it with /status {number}, or make "
        "a new report."
    ).format(number=turn.conv.last_case or "-"), [Option("new", turn._("New report"))])


def confirm_erase(turn: Turn) -> None:
    _ = turn._
    turn.ask(_("Erase your data? Your name, phone number and chat address will be removed from our records "
               "and from every report you sent. The reports stay, without your identity. This cannot be undone."),
             [Option("erase", _("Yes, erase my data")), Option("keep", _("No, keep it"))])


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
