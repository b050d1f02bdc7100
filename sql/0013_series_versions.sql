-- A version per series (symbol, interval, provider), bumped in the same transaction as every write
-- of its bars, coverage or skipped ranges: provider fetches, ingests (DoPut), invalidations,
-- refreshes and retention (`timebase.store.versions`). Versions come from one sequence, so they
-- only ever grow, also across a series whose row is recreated. Readers that keep copies of a
-- series (the gateway's hot tier and metadata cache) compare the version they copied at with the
-- current one, one indexed lookup, before serving the copy.
CREATE SEQUENCE series_version_seq;

CREATE TABLE series_versions (
    symbol     text        NOT NULL,
    "interval" text        NOT NULL,
    provider   text        NOT NULL,
    version    bigint      NOT NULL DEFAULT nextval('series_version_seq'),
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, "interval", provider)
);

-- Every series stored before this migration gets a version, so a retention run (which bumps every
-- series of an interval class) reaches it too.
INSERT INTO series_versions (symbol, "interval", provider)
SELECT DISTINCT symbol, "interval", provider FROM bars_intraday
UNION
SELECT DISTINCT symbol, "interval", provider FROM bars_daily
UNION
SELECT DISTINCT symbol, "interval", provider FROM coverage;
