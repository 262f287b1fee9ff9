""""Minta info": an officer's question goes to the reporter and the answers come back to
the group, appended to the case. Neither side learns who the other is (unless the
reporter chose to be named, which the case card already shows)."""

from __future__ import annotations

from flows.case import notify, rosters
from flows.case.evidence import counts_text, new_evidence
from flows.case.evidence import lines as evidence_lines
from flows.case.lifecycle import Actor, Outcome, check
from flows.i18n import ngettext_for
from flows.inert import inert
from flows.outcomes import InfoAnswered, InfoClosed
from flows.policy import Policy
from flows.replies import to_dict
from flows.reporter import info_answer
from flows.reporter.conversation import Conversation
from flows.reporter.report import new_conversation
from storage import Tx, case_posts, cases, conversations, info_requests, outbox, reporters

MAX_QUESTION = 1000


async def ask(tx: Tx, policy: Policy, case_id: int, chat_id: int, question: str, actor: Actor,
              at: str) -> Outcome:
    verdict = await check(tx, case_id, chat_id, "ask")
    if not verdict.ok or verdict.case is None:
        return verdict
    case = verdict.case
    person = await reporters.get(tx, case.reporter_id)
    if person is None:
        return Outcome(False, case, "unknown_case")
    question = question.strip()[:MAX_QUESTION]
    request_id = await info_requests.add(tx, case.id, chat_id, question, actor.ref, at)
    await cases.add_event(tx, case.id, at, actor.ref, "info_request", None, None, question, actor.name)
    stored = await conversations.load(tx, person.channel, person.address)
    conv = (Conversation.from_json(stored.state, stored.data, stored.updated_at) if stored
            else new_conversation(person.locale, policy.default_locale))
    conv, replies = info_answer.open_question(conv, request_id, case.number, question)
    conv.updated_at = at
    await conversations.save_many(tx, [conversations.StoredConversation(
        person.channel, person.address, conv.state.value, conv.to_json(), at)])
    await outbox.enqueue(tx, person.channel, person.address, "send",
                         {"replies": [to_dict(r) for r in replies], "locale": conv.locale}, at, case_id=case.id)
    return Outcome(True, case)


async def record_answer(tx: Tx, policy: Policy, channel: str, address: str,
                        outcome: InfoAnswered | InfoClosed) -> None:
    """Append the reporter's answer to the case and relay it to the group that asked.
    Checks that the case is the reporter's own: a question belongs to one conversation."""
    request = await info_requests.get(tx, outcome.request_id)
    case = await cases.get(tx, request.case_id) if request else None
    person = await reporters.find(tx, channel, address)
    if request is None or case is None or person is None or case.reporter_id != person.id:
        return
    holders = await _holders(tx, case.id, request.chat_id)
    _ = notify.staff_gettext(policy)
    if isinstance(outcome, InfoClosed):
        if not outcome.answered:
            await cases.add_event(tx, case.id, outcome.at, "reporter", "info_declined", None, None, None)
            for chat_id, reply_to in holders:
                await notify.group(tx, chat_id, _("Case {number}: the reporter could not answer the question.")
                                   .format(number=case.number), outcome.at, case_id=case.id, reply_to=reply_to,
                                   holder_only=True)
        return
    await info_requests.mark_answered(tx, request.id, outcome.at)
    evidence = list(outcome.evidence)
    if evidence:
        await cases.add_evidence(tx, case.id, [new_evidence(item) for item in evidence], outcome.at)
        added = (await cases.evidence_of(tx, case.id))[-len(evidence):]
        evidence = [{**item, "position": row.position} for item, row in zip(evidence, added)]
    await cases.add_event(tx, case.id, outcome.at, "reporter", "info_answer", None, None,
                          outcome.text or f"{len(outcome.evidence)} file(s)")
    if outcome.text:
        text = _("Case {number}: the reporter answers:\n\n{answer}").format(number=case.number, answer=inert(outcome.text))
    else:
        locale = policy.default_locale
        text = _("Case {number}: the reporter sent more evidence ({items}).").format(
            number=case.number, items=counts_text(_, ngettext_for(locale), outcome.evidence))
        listed = evidence_lines(_, outcome.evidence, locale, show_held=False)
        if listed:
            text += "\n" + "\n".join(listed)
    for chat_id, reply_to in holders:
        if rosters.is_roster(chat_id):  # to the officer who asked; the others hear that it came
            await rosters.relay_answer(tx, policy.default_locale, chat_id, case, request.asked_by, text, evidence,
                                       outcome.at)
            continue
        await notify.group(tx, chat_id, text, outcome.at, case_id=case.id, reply_to=reply_to,
                           evidence=evidence, holder_only=True)


async def _holders(tx: Tx, case_id: int, asked_in: int) -> list[tuple[int, int | None]]:
    """Where an answer goes: the group that asked if it still holds the case, else the
    groups that hold it now (none while it waits for a route: the answer stays on the case)."""
    posts = await case_posts.of_case(tx, case_id)
    asking = [p for p in posts if p.chat_id == asked_in]
    return [(p.chat_id, p.message_id) for p in (asking or posts)]
