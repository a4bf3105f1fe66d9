"""Is an agent dead? Two signals, rpcdaemon's own clock, and hysteresis.

Neutron's `alive` flag is computed by the server against the server's clock; an agent's heartbeat_timestamp is
written with the server's clock too, and may be skewed or frozen by an overloaded server. rpcdaemon therefore never
compares those timestamps with its own time: it records *when it saw the heartbeat change* (its own clock, passed
in as `now`) and calls an agent dead only when both agree:
  - the API says alive=false, and
  - rpcdaemon saw no heartbeat change for `dead_after_s`.
One signal without the other is SUSPECT: held, reported, never acted on.

Rules taken from Neutron's agentschedulers_db, written as small pure functions:
  - start-up grace: an agent first seen at t cannot be dead before t + dead_after_s (nothing was observed yet);
  - clock-jump guard: if rpcdaemon did not observe for longer than dead_after_s (suspended, stalled, clock jumped),
    observation restarts: silence rpcdaemon did not watch is not evidence;
  - an agent that comes back is RECOVERING (not a target) until it has stayed up for hold_down_s.
An agent may also serve nothing while alive: one admin down, where Neutron then gives it nothing to serve
(`out_of_service`); its work is evacuated like a dead agent's, though its verdict stays what its signals say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from rpcdaemon.core.policy import Policy
from rpcdaemon.model import Agent, AgentId


class Verdict(StrEnum):
    ALIVE = "alive"
    SUSPECT = "suspect"
    DEAD = "dead"
    RECOVERING = "recovering"


@dataclass(frozen=True, slots=True)
class Observation:
    """What rpcdaemon has seen of one agent, timed by its own clock."""

    token: tuple[str | None, str | None]
    """(heartbeat_timestamp, started_at) as last read: only its changes matter."""
    changed_at: float
    """When rpcdaemon last saw the token change (or first saw the agent)."""
    heard_at: float | None = None
    """When the bus last carried a heartbeat of this agent (None: no bus, or never heard)."""
    dead_since: float | None = None
    up_since: float | None = None
    """Set when a dead agent came back: the start of its hold-down."""
    suspect_since: float | None = None
    """Since when the signals have disagreed (None: they agree)."""
    admin_down_since: float | None = None
    """Since when every agents list read has said admin_state_up false (None: the last one said true)."""
    draining_since: float | None = None
    """Since when every agents list read has carried the drain mark (None: the last one did not)."""


@dataclass(frozen=True, slots=True)
class LivenessState:
    observations: Mapping[AgentId, Observation] = field(default_factory=dict)
    observed_at: float | None = None
    """When the previous observation was made (for the clock-jump guard)."""
    restarted_at: float | None = None
    """When observation (re)started: before restarted_at + dead_after_s no agent can be judged dead."""


@dataclass(frozen=True, slots=True)
class AgentLiveness:
    agent_id: AgentId
    verdict: Verdict
    api_alive: bool
    silent_s: float
    """How long rpcdaemon has seen no heartbeat (on the bus when heard there, else as an API change)."""
    reason: str
    suspect_for_s: float = 0.0
    """How long the signals have disagreed: reported once past policy.disagreement_report_s."""
    quiet: bool = False
    """Not dead, but silent for policy.quiet_fraction of the dead period: about to die, perhaps with others."""
    admin_down_for_s: float = 0.0
    """How long the agents lists have said admin down without a break (0: first seen so, or admin up)."""
    draining_for_s: float | None = None
    """How long the agents lists have carried the drain mark without a break (None: the last one did not)."""

    @property
    def is_dead(self) -> bool:
        return self.verdict is Verdict.DEAD


def observe(
    state: LivenessState,
    agents: Mapping[AgentId, Agent],
    now: float,
    policy: Policy,
    heard: Mapping[AgentId, float] | None = None,
) -> tuple[LivenessState, dict[AgentId, AgentLiveness]]:
    """Fold one read of the agents into the state and judge every agent."""
    restarted_at = state.restarted_at
    previous = dict(state.observations)
    if restarted_at is None or observation_gap_too_long(state.observed_at, now, policy):
        restarted_at = now
        previous = {a: replace(o, changed_at=now) for a, o in previous.items()}

    observations: dict[AgentId, Observation] = {}
    verdicts: dict[AgentId, AgentLiveness] = {}
    for agent_id, agent in agents.items():
        obs = _advance(previous.get(agent_id), agent, now, heard.get(agent_id) if heard else None)
        judged = judge(agent, obs, now, policy)
        if obs.admin_down_since is not None:
            judged = replace(judged, admin_down_for_s=max(0.0, now - obs.admin_down_since))
        if obs.draining_since is not None:
            judged = replace(judged, draining_for_s=max(0.0, now - obs.draining_since))
        if judged.verdict is not Verdict.DEAD and judged.silent_s >= policy.dead_after_s * policy.quiet_fraction:
            judged = replace(judged, quiet=True)
        obs = _track_recovery(obs, judged.verdict, now)
        if judged.verdict is Verdict.SUSPECT:
            since = obs.suspect_since if obs.suspect_since is not None else now
            obs = replace(obs, suspect_since=since)
            judged = replace(judged, suspect_for_s=now - since)
        elif obs.suspect_since is not None:
            obs = replace(obs, suspect_since=None)
        up_since = obs.up_since
        if judged.verdict is not Verdict.DEAD and up_since is not None:
            if now - up_since >= policy.hold_down_s:
                obs = replace(obs, up_since=None)
            elif judged.verdict is Verdict.ALIVE:
                judged = replace(
                    judged,
                    verdict=Verdict.RECOVERING,
                    reason=f"back for {now - up_since:.0f}s of a {policy.hold_down_s:.0f}s hold-down",
                )
        observations[agent_id] = obs
        verdicts[agent_id] = judged
    return LivenessState(observations, observed_at=now, restarted_at=restarted_at), verdicts


def observation_gap_too_long(observed_at: float | None, now: float, policy: Policy) -> bool:
    """True when rpcdaemon's clock went backwards or it did not look for a whole dead period."""
    if observed_at is None:
        return False
    return now < observed_at or now - observed_at > policy.dead_after_s


def judge(agent: Agent, obs: Observation, now: float, policy: Policy) -> AgentLiveness:
    """The verdict for one agent: DEAD only when both signals agree, SUSPECT when they disagree.

    The API's signal is its `alive` flag. The second signal is the bus when the agent is heard on it (a
    heartbeat crossed the bus within dead_after_s), else rpcdaemon's own observation of the API's heartbeat token
    (it changed within dead_after_s, by rpcdaemon's clock).
    """
    if obs.heard_at is not None:
        silent_s = max(0.0, now - obs.heard_at)
        second = f"last heard on the bus {silent_s:.0f}s ago"
    else:
        silent_s = max(0.0, now - obs.changed_at)
        second = f"heartbeat last seen changing {silent_s:.0f}s ago"
    silent = silent_s >= policy.dead_after_s
    if silent and not agent.alive:
        verdict, reason = Verdict.DEAD, f"API says alive=false, no heartbeat seen for {silent_s:.0f}s"
    elif not silent and agent.alive:
        verdict, reason = Verdict.ALIVE, f"heartbeat seen {silent_s:.0f}s ago"
    else:
        verdict = Verdict.SUSPECT
        reason = f"signals disagree: API says alive={'true' if agent.alive else 'false'}, {second}: holding"
    return AgentLiveness(agent.id, verdict, agent.alive, silent_s, reason)


def is_target(agent: Agent, liveness: AgentLiveness) -> bool:
    """May this agent receive work? Only when alive, out of hold-down, not going quiet, admin up and not being
    drained (a drain mark seen once is enough to give it nothing new)."""
    return liveness.verdict is Verdict.ALIVE and not liveness.quiet and agent.admin_state_up and not agent.draining


ADMIN_DOWN_CONFIRM_S = 5.0
"""An agent is taken as admin down (and emptied) only after the agents lists have said so for this long without a
break: at least two reads (a check_interval apart), so one lying or replayed row changes nothing."""
ADMIN_DOWN_REASON = ("admin_state_up is false and enable_services_on_agents_with_admin_state_down is not set: "
                     "Neutron gives it nothing to serve")


def admin_down_idle(agent: Agent, policy: Policy) -> bool:
    """Is this agent admin down in a cloud where that means serving nothing? Neutron (agentschedulers_db
    `services_available`) gives an admin-down agent no routers or networks on its next sync unless
    enable_services_on_agents_with_admin_state_down is set: the agent tears down what it hosts, alive or not."""
    return not agent.admin_state_up and not policy.services_on_admin_down


def admin_down_confirmed(agent: Agent, liveness: AgentLiveness, policy: Policy) -> bool:
    """Admin down where that means serving nothing, and said so by the agents lists for ADMIN_DOWN_CONFIRM_S
    without a break: one lying or stale row (a well-formed answer) must not empty a live agent."""
    return admin_down_idle(agent, policy) and liveness.admin_down_for_s >= ADMIN_DOWN_CONFIRM_S


def drain_confirmed(agent: Agent, liveness: AgentLiveness) -> bool:
    """Marked for draining by the agents lists for ADMIN_DOWN_CONFIRM_S without a break: one lying or replayed
    row must not start moving a live agent's work."""
    return agent.draining and liveness.draining_for_s is not None and liveness.draining_for_s >= ADMIN_DOWN_CONFIRM_S


def out_of_service(
    agents: Mapping[AgentId, Agent], verdicts: Mapping[AgentId, AgentLiveness], policy: Policy
) -> dict[AgentId, tuple[str, str]]:
    """The agents that serve nothing they host, each with (what it is, why): ("dead", the verdict's reason), or
    ("admin down", ADMIN_DOWN_REASON) for an agent not judged dead but admin down where Neutron then serves
    nothing. Their work is evacuated (under the disruption guard and the budget); every other agent keeps it."""
    out: dict[AgentId, tuple[str, str]] = {}
    for agent_id, liveness in verdicts.items():
        agent = agents.get(agent_id)
        if liveness.verdict is Verdict.DEAD:
            out[agent_id] = ("dead", liveness.reason)
        elif agent is not None and admin_down_confirmed(agent, liveness, policy):
            out[agent_id] = ("admin down", ADMIN_DOWN_REASON)
    return out


def _advance(prev: Observation | None, agent: Agent, now: float, heard_at: float | None) -> Observation:
    """`heard_at` is authoritative: None when the bus is not (or not yet long enough) listened to."""
    token = (agent.heartbeat, agent.started_at)
    down_since = None if agent.admin_state_up else now
    draining_since = now if agent.draining else None
    if prev is None:
        return Observation(token=token, changed_at=now, heard_at=heard_at, admin_down_since=down_since,
                           draining_since=draining_since)
    if down_since is not None and prev.admin_down_since is not None:
        down_since = prev.admin_down_since
    if draining_since is not None and prev.draining_since is not None:
        draining_since = prev.draining_since
    if token != prev.token:
        return replace(prev, token=token, changed_at=now, heard_at=heard_at, admin_down_since=down_since,
                       draining_since=draining_since)
    return replace(prev, heard_at=heard_at, admin_down_since=down_since, draining_since=draining_since)


def _track_recovery(obs: Observation, verdict: Verdict, now: float) -> Observation:
    """A death ends only when both signals say the agent is back: time spent SUSPECT after a death (observation
    restarted, the signals disagree) is not time up, and does not count toward the hold-down."""
    if verdict is Verdict.DEAD:
        return obs if obs.dead_since is not None else replace(obs, dead_since=now, up_since=None)
    if obs.dead_since is not None and verdict is Verdict.ALIVE:
        return replace(obs, dead_since=None, up_since=now)
    return obs


def state_from_api(agents: Mapping[AgentId, Agent], now: float, policy: Policy) -> LivenessState:
    """A state for a single read (the `plan` command): the API's `alive` flag stands for both signals.

    With one read there is no heartbeat change to observe, so an agent the API calls dead is taken as unheard for
    the whole dead period, and one it calls alive as heard just now. The daemon never uses this: it observes.
    """
    observations = {
        agent_id: Observation(
            token=(agent.heartbeat, agent.started_at),
            changed_at=now if agent.alive else now - policy.dead_after_s,
            admin_down_since=None if agent.admin_state_up else now - policy.dead_after_s,
            draining_since=now - policy.dead_after_s if agent.draining else None,
        )
        for agent_id, agent in agents.items()
    }
    return LivenessState(observations, observed_at=now, restarted_at=now - policy.dead_after_s)
