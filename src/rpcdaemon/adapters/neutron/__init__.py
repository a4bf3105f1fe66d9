"""Neutron's API: the only code that talks to it."""
