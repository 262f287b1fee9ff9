"""Evidence as the flow keeps it (plain dicts in the draft) to the row storage writes."""

from __future__ import annotations

from collections.abc import Mapping

from storage.cases import NewEvidence


def new_evidence(item: Mapping[str, object]) -> NewEvidence:
    def text(key: str) -> str | None:
        value = item.get(key)
        return str(value) if value is not None else None

    size = item.get("size")
    return NewEvidence(
        kind=str(item["kind"]), channel_ref=str(item["ref"]),
        channel_unique_ref=text("unique_ref"), mime=text("mime"),
        size=size if isinstance(size, int) else None,
        sha256=text("sha256"), file_name=text("file_name"),
    )
