-- The trading calendar an imported data set named (docs/calendars.md): one row per data set
-- (the provider name its bars are stored under). Providers' calendars come from their manifests.
CREATE TABLE dataset_calendars (
    provider   text        PRIMARY KEY,
    calendar   text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
