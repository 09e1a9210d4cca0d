"""The scheduler: a Faust app that decides commands, appends events and dispatches."""
