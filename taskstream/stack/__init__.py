"""The embedded stack supervisor: broker, Postgres, Valkey and the services as child processes.

Entry point: `taskstream.stack.supervisor.Supervisor` (what `taskstream dev` runs).
"""
