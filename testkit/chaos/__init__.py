"""Chaos runs: rpcdaemon against an emulated cloud where the API, the bus, the agents and its own clock misbehave.

Why it exists: rpcdaemon acts on production networks, so "it works when everything works" is not enough. This
package injects faults for a bounded time, then stops them and checks invariants that must hold whatever happened
(every router and network served by live agents, no action against a healthy agent, no storm of actions, no crash,
flat memory). bench/chaos.py and tests/chaos/ drive it; a seed makes a failing run reproducible.
"""
