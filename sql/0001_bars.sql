-- Bars and coverage. Compatible with PostgreSQL 15-18, with or without TimescaleDB.
--
-- Bars live in one table per interval class so that retention can drop whole TimescaleDB chunks
-- of intraday bars without touching daily ones; the `bars` view reads both. Conventions: `ts` is
-- the bar's start instant in UTC (daily and longer bars at 00:00 UTC of the trading date), symbols
-- are stored upper-case, time ranges are half-open [start, end).

CREATE TABLE bars_intraday (
    symbol      text        NOT NULL,
    "interval"  text        NOT NULL,
    provider    text        NOT NULL,
    ts          timestamptz NOT NULL,
    open        float8      NOT NULL,
    high        float8      NOT NULL,
    low         float8      NOT NULL,
    close       float8      NOT NULL,
    volume      float8      NOT NULL,
    metadata    jsonb,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, "interval", provider, ts),
    CONSTRAINT bars_intraday_interval CHECK ("interval" IN ('1m', '5m', '15m', '30m', '1h', '4h')),
    CONSTRAINT bars_intraday_symbol CHECK (symbol <> '' AND symbol = upper(symbol))
);

CREATE TABLE bars_daily (
    symbol      text        NOT NULL,
    "interval"  text        NOT NULL,
    provider    text        NOT NULL,
    ts          timestamptz NOT NULL,
    open        float8      NOT NULL,
    high        float8      NOT NULL,
    low         float8      NOT NULL,
    close       float8      NOT NULL,
    volume      float8      NOT NULL,
    metadata    jsonb,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, "interval", provider, ts),
    CONSTRAINT bars_daily_interval CHECK ("interval" IN ('1d', '1wk', '1mo')),
    CONSTRAINT bars_daily_symbol CHECK (symbol <> '' AND symbol = upper(symbol))
);

-- Retention deletes by age.
CREATE INDEX bars_intraday_ts ON bars_intraday (ts);
CREATE INDEX bars_daily_ts ON bars_daily (ts);

CREATE VIEW bars AS
    SELECT symbol, "interval", provider, ts, open, high, low, close, volume, metadata, ingested_at
    FROM bars_intraday
    UNION ALL
    SELECT symbol, "interval", provider, ts, open, high, low, close, volume, metadata, ingested_at
    FROM bars_daily;

-- Ranges [start_ts, end_ts) of a series fetched from its provider. Rows of one series never
-- overlap or touch: writes merge overlapping and adjacent ranges.
CREATE TABLE coverage (
    symbol     text        NOT NULL,
    "interval" text        NOT NULL,
    provider   text        NOT NULL,
    start_ts   timestamptz NOT NULL,
    end_ts     timestamptz NOT NULL,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, "interval", provider, start_ts),
    CONSTRAINT coverage_range CHECK (start_ts < end_ts)
);

CREATE INDEX coverage_end ON coverage ("interval", end_ts);
