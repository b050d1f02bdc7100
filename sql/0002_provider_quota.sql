-- Requests the gateway sent to each provider in the current minute and UTC day, counted against
-- the provider's manifest rate limits, so daily quotas survive a restart. One row per provider.
CREATE TABLE provider_quota (
    provider      text        PRIMARY KEY,
    day_start     timestamptz NOT NULL,
    day_used      integer     NOT NULL DEFAULT 0,
    minute_start  timestamptz NOT NULL,
    minute_used   integer     NOT NULL DEFAULT 0,
    -- Set when the provider answered RESOURCE_EXHAUSTED with a RetryInfo delay.
    blocked_until timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
