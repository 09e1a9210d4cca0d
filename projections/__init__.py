"""Read models built from the event log: the Postgres task projection and its queries."""
