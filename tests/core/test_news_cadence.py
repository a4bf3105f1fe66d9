"""The rules that moved from the loop into the core: what changed since the last plan (news) and when to look
next (cadence). Each once lived in the shell (the reconciler's transition log, the demo's copy of it against the
string "suspect", the runner's wait, the bus watch's trust window)."""

from __future__ import annotations

from builders import NOW, agent, observed, snapshot

from rpcdaemon.core.cadence import api_lagging, bus_is_evidence, next_silence, next_wait
from rpcdaemon.core.liveness import AgentLiveness, Verdict
from rpcdaemon.core.news import what_changed
from rpcdaemon.core.plan import make_plan
from rpcdaemon.core.policy import Policy
from rpcdaemon.model import AgentId

A = AgentId("a")


def liveness(verdict: Verdict, api_alive: bool = True, silent_s: float = 0.0, suspect_for_s: float = 0.0,
             reason: str = "why") -> AgentLiveness:
    return AgentLiveness(A, verdict, api_alive, silent_s, reason, suspect_for_s)


def test_a_transition_is_news_once_and_suspect_is_never_one() -> None:
    news, announced, _ = what_changed({}, frozenset(), {A: liveness(Verdict.ALIVE)}, ())
    assert news.transitions == ()
    news, announced, _ = what_changed(announced, frozenset(), {A: liveness(Verdict.SUSPECT)}, ())
    assert news.transitions == ()
    assert announced[A] is Verdict.ALIVE
    news, announced, _ = what_changed(announced, frozenset(), {A: liveness(Verdict.DEAD, reason="silent")}, ())
    assert [(t.before, t.after, t.reason) for t in news.transitions] == [(Verdict.ALIVE, Verdict.DEAD, "silent")]
    news, _, _ = what_changed(announced, frozenset(), {A: liveness(Verdict.DEAD)}, ())
    assert news.transitions == ()


def test_notes_are_raised_and_cleared_once() -> None:
    news, _, shown = what_changed({}, frozenset(), {}, ("b held", "a held"))
    assert news.raised == ("a held", "b held")
    news, _, shown = what_changed({}, shown, {}, ("a held",))
    assert news.raised == ()
    assert news.cleared == ("b held",)


def test_make_plan_carries_the_news_of_an_agent_turning_dead() -> None:
    policy = Policy()
    alive = snapshot([agent("l3-a"), agent("l3-b")])
    plan, state = make_plan(alive, observed(alive, policy), NOW, policy)
    assert plan.news.transitions == ()
    dead = snapshot([agent("l3-a", alive=False), agent("l3-b")])
    plan, state = make_plan(dead, state, NOW + 1, policy)
    assert plan.verdicts[AgentId("l3-a")].verdict is Verdict.SUSPECT  # the signals disagree: not news
    assert plan.news.transitions == ()
    plan, state = make_plan(dead, state, NOW + policy.dead_after_s + 1, policy)
    assert [(t.agent_id, t.after) for t in plan.news.transitions] == [(AgentId("l3-a"), Verdict.DEAD)]
    plan, _ = make_plan(dead, state, NOW + policy.dead_after_s + 2, policy)
    assert plan.news.transitions == ()


def test_the_bus_is_evidence_only_after_a_whole_dead_period_of_listening() -> None:
    assert not bus_is_evidence(None, 100.0, 10.0)
    assert not bus_is_evidence(95.0, 100.0, 10.0)
    assert bus_is_evidence(90.0, 100.0, 10.0)


def test_the_next_silence_is_the_earliest_heard_agent_to_pass_its_dead_period() -> None:
    assert next_silence([], 100.0, 10.0) is None
    assert next_silence([85.0], 100.0, 10.0) is None  # already silent: no wake-up for it
    assert next_silence([95.0, 92.0, 99.0], 100.0, 10.0) == 102.0


def test_a_lagging_api_is_read_again_soon_and_a_silence_sooner_than_the_period() -> None:
    policy = Policy()
    lagging = {A: liveness(Verdict.SUSPECT, api_alive=True, silent_s=policy.dead_after_s)}
    assert api_lagging(lagging, policy)
    reported = {A: liveness(Verdict.SUSPECT, api_alive=True, silent_s=policy.dead_after_s,
                            suspect_for_s=policy.disagreement_report_s)}
    assert not api_lagging(reported, policy)
    assert next_wait(5.0, 100.0, None, False, 1.0) == 5.0
    assert next_wait(5.0, 100.0, 102.0, False, 1.0) == 2.05
    assert next_wait(5.0, 100.0, 102.0, True, 1.0) == 1.0
