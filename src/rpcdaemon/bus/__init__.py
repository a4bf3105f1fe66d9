"""The AMQP bus: what Neutron says on it (heartbeats, notifications), heard through rpcdaemon's own queues."""
