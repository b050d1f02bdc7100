-- API keys (timebase.auth): only the SHA-256 of each key is stored, with a short display prefix
-- (`tb_` and the first characters) so people can tell keys apart. The key itself is shown once,
-- by `timebase keys create`. A revoked key keeps its row (revoked_at set) for the record.
CREATE TABLE api_keys (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL,
    scope        text        NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    sha256       text        NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    prefix       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- A name names one key that is not revoked (a revoked key's name can be given again).
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
