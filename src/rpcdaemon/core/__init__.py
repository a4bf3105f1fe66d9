"""The pure core: snapshot + observation state + now + policy -> actions, each with a reason.

Nothing in this package performs I/O or reads a clock (an import-linter contract and a unit test enforce it), so
every decision rpcdaemon takes can be replayed and property-tested without a cloud.
"""
