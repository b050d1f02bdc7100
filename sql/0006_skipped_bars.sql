-- Ranges [start_ts, end_ts) of a series whose fetch skipped invalid bars (bars the provider sent,
-- or reported dropping, that failed validation). The range is covered, but has holes: every later
-- answer covering it warns INVALID_BARS_SKIPPED, until a fetch of the range (an explicit refresh)
-- brings only valid bars. Rows of one series never overlap; `reasons` is readable text.
CREATE TABLE skipped_bars (
    symbol     text        NOT NULL,
    "interval" text        NOT NULL,
    provider   text        NOT NULL,
    start_ts   timestamptz NOT NULL,
    end_ts     timestamptz NOT NULL,
    skipped    integer     NOT NULL,
    reasons    text        NOT NULL,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, "interval", provider, start_ts),
    CONSTRAINT skipped_bars_range CHECK (start_ts < end_ts),
    CONSTRAINT skipped_bars_count CHECK (skipped > 0)
);

CREATE INDEX skipped_bars_end ON skipped_bars ("interval", end_ts);
