"""The pure domain: envelope, commands, events, task state machine and policies.

No IO, no clock, no randomness: time, ids and random draws are arguments.
"""
