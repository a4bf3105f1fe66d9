"""Configuration: the options table (each option parses itself), the settings built from it, and the URLs
of the broker and the coordination backend. Below the adapters and the daemon; above the pure core."""
