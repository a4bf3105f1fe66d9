"""Test rigs that the installed package does not contain (the chaos rig); importable from the repository's
root, as pytest and bench/ run it."""
