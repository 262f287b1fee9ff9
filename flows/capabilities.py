"""What a channel can show, as the flow needs to know it to word its questions.

The flow never knows which channel it talks to; each channel passes its abilities with
every inbound event, and the prompts ask them ("press Skip" where there are buttons,
"reply 1 (Skip)" where options are a numbered list).
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Capabilities:
    buttons: bool = False
    """Options can be pressed (inline buttons); otherwise they are a numbered list."""
    share_contact: bool = False
    """A native "share my phone number" button."""
    short_menus: bool = False
    """Long menus as labels only, their explanations on request: a small screen where a
    long message is one wall of text (WhatsApp)."""
    name: str = ""
    """The channel's name as the reporter knows it (a catalog message id, marked with N_),
    shown by /data_saya."""

    def to_list(self) -> list[str]:
        """As stored with the conversation: the abilities that are on, and the name."""
        on = [f.name for f in fields(self) if f.name != "name" and getattr(self, f.name)]
        return [*on, f"name={self.name}"] if self.name else on

    @classmethod
    def from_list(cls, stored: list[str] | None) -> Capabilities:
        if not stored:
            return cls()
        known = {f.name for f in fields(cls)} - {"name"}
        name = next((s.removeprefix("name=") for s in stored if s.startswith("name=")), "")
        return cls(name=name, **{s: True for s in stored if s in known})


NUMBERED = Capabilities()
"""Plain text with numbered options: what any channel can show."""
