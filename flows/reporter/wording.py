"""How a question names the controls of the reporter's channel: the one place that asks
what the channel can show. Where there are buttons the reporter "presses Skip"; where
options are a numbered list they "reply 2 (Skip)"; nowhere is a control named that the
channel does not have.

Functions take the translation and the abilities rather than a `Turn`, so a question put
outside a step (an officer's) is worded the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flows.capabilities import Capabilities
from flows.replies import Option

Gettext = Callable[[str], str]


def press(_: Gettext, caps: Capabilities, options: Sequence[Option], option_id: str) -> str:
    """'press Skip' / 'reply 2 (Skip)', for inside a sentence."""
    for number, option in enumerate(options, start=1):
        if option.id == option_id:
            if caps.buttons:
                return _("press {label}").format(label=option.label)
            return _("reply {number} ({label})").format(number=number, label=option.label)
    raise ValueError(f"{option_id!r} is not offered")


def pick_hint(_: Gettext, caps: Capabilities, labels: Sequence[str]) -> str:
    """The answer was not one of the options."""
    if caps.buttons:
        return _("Please choose one of the options: press a button.")
    if len(labels) == 1:
        return _("Please reply 1 ({label}).").format(label=labels[0])
    return _("Please reply with the number of one of the options (1–{count}).").format(count=len(labels))


def out_of_range(_: Gettext, caps: Capabilities, number: int, count: int) -> str:
    if caps.buttons:
        return _("There is no option {number}. Press one of the buttons.").format(number=number)
    return _("There is no option {number}. Reply with a number from 1 to {count}.").format(
        number=number, count=count)


def by_controls(caps: Capabilities, buttons: str, numbers: str) -> str:
    """A sentence built around the control ("Press a button or type the date"): each form
    is its own message, translated whole."""
    return buttons if caps.buttons else numbers


def bare_number(_: Gettext, caps: Capabilities, number: int, options: Sequence[Option]) -> str:
    """A number alone where words are wanted (a name, a place, a date), and no option has
    it: asked about rather than stored."""
    asked = _("Did you mean option {number}? There is no such option here.").format(number=number)
    if not options:
        return asked + " " + _("Please type your answer in words.")
    if caps.buttons:
        return asked + " " + _("Please type your answer, or press a button.")
    if len(options) == 1:
        return asked + " " + _("Please type your answer, or {press}.").format(press=press(_, caps, options, options[0].id))
    return asked + " " + _("Please type your answer, or reply with a number from 1 to {count}.").format(
        count=len(options))
