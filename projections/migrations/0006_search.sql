-- Postgres full-text search (projections/search/): one tsvector per task and per log line.
--
-- Task documents live in their own table, written by the projector only when a task
-- first appears or an attempt error changes (about once per task), not with every
-- version of the task row: a tsvector column on `tasks` (generated or by trigger) would
-- be recomputed and re-inserted into its GIN index at every event; measured, that halved
-- the apply rate with ~1 KB payloads (docs/search.md). Weights: A type, B labels and
-- errors, C payload text. The `simple` configuration does not stem or drop words.

CREATE TABLE task_search (
    task_id   text     PRIMARY KEY,
    tenant    text     NOT NULL,
    -- The task version the document was built from: an older write never replaces it.
    version   integer  NOT NULL,
    document  tsvector NOT NULL
);

CREATE INDEX task_search_document ON task_search USING gin (document);

-- Log lines are written once: a generated column costs one tsvector per line. Lines are
-- cut by the worker (8,192 characters by default); the bound keeps a longer line from a
-- foreign producer under the tsvector size limit.
ALTER TABLE task_logs
    ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', left(message, 32768))) STORED;

CREATE INDEX task_logs_search ON task_logs USING gin (search);

-- The string and number leaves of a JSON value, space-separated (what is searched of a
-- payload; the same leaves `projections/search/text.py` extracts).
CREATE FUNCTION taskstream_json_text(value jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(x #>> '{}', ' '), '')
    FROM jsonb_path_query(value, 'strict $.**') AS j(x)
    WHERE jsonb_typeof(x) IN ('string', 'number')
$$;

-- Tasks projected before this migration.
INSERT INTO task_search (task_id, tenant, version, document)
SELECT t.id, t.tenant, t.version,
       setweight(to_tsvector('simple', t.type), 'A')
    || setweight(jsonb_to_tsvector('simple', coalesce(t.state->'labels', '{}'), '["key", "string"]'), 'B')
    || setweight(to_tsvector('simple', left(coalesce(
           (SELECT string_agg(concat_ws(' ', a->>'error', a->>'traceback'), ' ')
            FROM jsonb_array_elements(t.state->'attempts') AS a), ''), 32768)), 'B')
    || setweight(to_tsvector('simple', left(taskstream_json_text(t.state->'payload'), 32768)), 'C')
FROM tasks t
ON CONFLICT (task_id) DO NOTHING;
