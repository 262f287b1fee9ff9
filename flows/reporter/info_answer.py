"""The reporter answers an officer's question ("Minta info").

The question interrupts whatever the reporter was doing: the state is remembered and
the flow returns to it when they press Done (or /batal, /kembali). Each text or file
they send is relayed at once; the officer never learns who the reporter is, and the
reporter never learns which officer asked.
"""

from __future__ import annotations

import re
from typing import Any

from flows.capabilities import Capabilities
from flows.events import Choice, Event, Forwarded, Media, Text
from flows.i18n import gettext_for
from flows.outcomes import InfoAnswered, InfoClosed
from flows.replies import ChoicesReply, Option, Reply
from flows.reporter.conversation import Conversation, State
from flows.reporter.links import message_item
from flows.reporter.turn import Turn
from flows.reporter.wording import press

DONE_WORDS = ("selesai", "sudah", "cukup", "done", "finished")

MAX_ANSWER = 4000


def open_question(conv: Conversation, request_id: int, case_number: str, question: str) -> tuple[Conversation, list[Reply]]:
    """Put the question to the reporter (called outside a step, when the officer asks).
    A second question replaces an unanswered first one; the state to return to is kept."""
    conv = conv.copy()
    return_to = conv.info["return_to"] if conv.info else conv.state.value
    conv.info = {"request": request_id, "case": case_number, "question": question, "return_to": return_to}
    conv.state = State.INFO_ANSWER
    conv.token += 1
    conv.page = 0
    conv.matches = []
    reply = _question(conv)
    conv.offered = [[o.id, o.label, *o.aliases] for o in reply.options]
    conv.matchable = []
    return conv, [reply]


def _question(conv: Conversation) -> ChoicesReply:
    """Worded for the channel the reporter last wrote from (the question comes between
    their messages, from an officer)."""
    _ = gettext_for(conv.locale)
    info = conv.info or {}
    options = (Option("done", _("Done"), aliases=DONE_WORDS), Option("skip", _("I can't answer")))
    text = _("An officer handling your report {number} asks:\n\n{question}\n\n"
             "Type your answer, or send photos or files. When you have finished, {done}. "
             "The officer does not see who you are.").format(
        number=info.get("case", "-"), question=info.get("question", ""),
        done=press(_, Capabilities.from_list(conv.abilities), options, "done"))
    if has_link(str(info.get("question", ""))):
        text += "\n\n" + _("Careful: this question contains a link. Open it only if you trust it: "
                            "opening a link can tell its owner who and where you are.")
    return ChoicesReply(text, options, conv.token)


_LINK = re.compile(r"(?i)\b(?:https?://|www\.|t\.me/|wa\.me/)\S+"
                   r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}/"  # any host with a path: IP loggers live on .us, .su, .ru…
                   r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|id|net|org|info|io|co|me|ly|link|site|xyz|app|online|click|top"
                   r"|gl|gd|to|us|su|ru|cc|biz|pw|de|in|tk|ml|ga|cf|gq|ws|sh|lol|icu|live|shop|store|cloud|pro|vip)\b")


def has_link(text: str) -> bool:
    """A web address in an officer's question (spelled out or bare: "bit.ly/x", "contoh.id")."""
    return _LINK.search(text) is not None


def prompt(turn: Turn) -> None:
    reply = _question(turn.conv)
    turn.ask(reply.text, reply.options)


def handle(turn: Turn, event: Event) -> None:
    _ = turn._
    info = turn.conv.info
    if info is None:
        finish(turn)
        return
    if event in (Choice("done"), Choice("skip")):
        finish(turn)
        return
    if isinstance(event, Text) and event.text.strip():
        text = event.text.strip()[:MAX_ANSWER]
        turn.outcomes.append(InfoAnswered(info["request"], info["case"], text, (), turn.now.isoformat()))
        info["answered"] = True
        _more(turn)
    elif isinstance(event, Media):
        items = tuple({"kind": i.kind, "ref": i.ref, "unique_ref": i.unique_ref, "mime": i.mime,
                       "size": i.size, "sha256": i.sha256, "file_name": i.file_name} for i in event.items)
        turn.outcomes.append(InfoAnswered(info["request"], info["case"], None, items, turn.now.isoformat()))
        info["answered"] = True
        _more(turn)
    elif isinstance(event, Forwarded):
        turn.outcomes.append(InfoAnswered(info["request"], info["case"], None, (message_item(event, turn.now.tzinfo),),
                                          turn.now.isoformat()))
        info["answered"] = True
        _more(turn)
    else:
        done = press(_, turn.caps, [Option("done", _("Done"))], "done")
        turn.hint(_("Please type your answer or send a photo or file, or {done}.").format(done=done))


def _more(turn: Turn) -> None:
    _ = turn._
    options = [Option("done", _("Done"), aliases=DONE_WORDS)]
    turn.ask(_("Passed on to the officer. Send more, or {done}.").format(
        done=press(_, turn.caps, options, "done")), options)


def finish(turn: Turn) -> None:
    """Close the question and go back to where the reporter was."""
    info: dict[str, Any] = turn.conv.info or {}
    turn.conv.info = None
    if info:
        answered = bool(info.get("answered"))
        turn.outcomes.append(InfoClosed(info["request"], info["case"], answered, turn.now.isoformat()))
        turn.say(turn._("Thank you. You can carry on where you were.") if answered
                 else turn._("All right. The officer has been told you could not answer."))
    turn.goto(State(info.get("return_to", State.START.value)), remember=False)
