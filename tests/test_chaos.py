"""The crash test of `bench/chaos.py` in a shorter form: the bot as a real process, killed
with SIGKILL while reporters are mid-flow, loses and repeats nothing."""

from __future__ import annotations

from bench.chaos import run


async def test_sigkill_mid_flow_loses_no_step_and_repeats_no_case() -> None:
    result = await run(reporters=25, kills=3, seed=7, timeout=120)
    assert result.ok(), result.report()
    assert result.kills == 3 and result.cases == 25 and result.wrong_answers == 0
