-- API keys: only a SHA-256 digest of each key's secret is stored (the secret is 256
-- random bits, so a slow hash would add nothing; see docs/auth.md). `id` is public and
-- is the prefix of the key itself (`tsk_<id>_<secret>`), so a lookup is one index probe.
-- `last_used_at` is written in batches by the API, not on every request.

CREATE TABLE api_keys (
    id            text        PRIMARY KEY,
    secret_sha256 bytea       NOT NULL,
    tenant        text        NOT NULL,
    scopes        text[]      NOT NULL,
    name          text        NOT NULL DEFAULT '',
    description   text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at DESC);
