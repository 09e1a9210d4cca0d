"""Search over tasks and log lines: one `SearchBackend` protocol, Postgres FTS or Elasticsearch."""
