"""Adapters: each talks to one outside thing (Neutron, the bus, the coordination backend, the status port,
the audit log, systemd) and knows nothing of the others; the daemon composes them."""
