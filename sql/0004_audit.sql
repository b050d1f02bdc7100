-- The audit log: one row per write or admin action, refused ones included (timebase.audit).
-- `key_name` / `key_prefix` are NULL with auth off; `outcome` is 'ok' or the error code. For an
-- ingest, `range_start` / `range_end` are the first and last bar of the batch; for the other
-- actions the half-open range [range_start, range_end) the action covered. `detail` holds what
-- does not fit a column (several symbols or providers of one batch, the imported data sets an
-- invalidation kept, the override flag, the error message). Newest first by `id`.
CREATE TABLE audit (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    key_name    text,
    key_prefix  text,
    address     text        NOT NULL DEFAULT '',
    door        text        NOT NULL,
    action      text        NOT NULL,
    symbol      text,
    provider    text,
    "interval"  text,
    range_start timestamptz,
    range_end   timestamptz,
    rows        bigint,
    outcome     text        NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_action ON audit (action, id);
CREATE INDEX audit_key_name ON audit (key_name, id);
