"""The AMQP bus: envelopes, the listener, the dump, what heartbeats and notifications tell the loop."""
