"""The daemon: composes the parts from Settings, runs the loop and its passes (read, plan, act), and does
the process's plumbing (pidfile, detach, signals, logging)."""
