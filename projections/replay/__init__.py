"""Replay tooling: rebuild and verify read models from the log, restore the log from the archive."""
