-- Prices as scaled integers where that is exact (timebase.store.prices): TimescaleDB compresses
-- integer columns with delta-delta to ~2 B per price, float8 random walks with Gorilla to ~6 B.
-- A row holds either price_scale + open_i..close_i (the float8 prices NULL) or, when no scale of
-- 0..8 decimals is exact, the float8 prices (price_scale NULL). Existing rows keep their float8
-- prices; rows written from now on are encoded. Reads decode with COALESCE (PRICE_SELECT).

ALTER TABLE bars_intraday
    ADD COLUMN price_scale int2,
    ADD COLUMN open_i int8,
    ADD COLUMN high_i int8,
    ADD COLUMN low_i int8,
    ADD COLUMN close_i int8;
ALTER TABLE bars_intraday ALTER COLUMN open DROP NOT NULL;
ALTER TABLE bars_intraday ALTER COLUMN high DROP NOT NULL;
ALTER TABLE bars_intraday ALTER COLUMN low DROP NOT NULL;
ALTER TABLE bars_intraday ALTER COLUMN close DROP NOT NULL;

ALTER TABLE bars_daily
    ADD COLUMN price_scale int2,
    ADD COLUMN open_i int8,
    ADD COLUMN high_i int8,
    ADD COLUMN low_i int8,
    ADD COLUMN close_i int8;
ALTER TABLE bars_daily ALTER COLUMN open DROP NOT NULL;
ALTER TABLE bars_daily ALTER COLUMN high DROP NOT NULL;
ALTER TABLE bars_daily ALTER COLUMN low DROP NOT NULL;
ALTER TABLE bars_daily ALTER COLUMN close DROP NOT NULL;

CREATE OR REPLACE VIEW bars AS
    SELECT symbol, "interval", provider, ts,
        COALESCE(open, open_i::float8 / (ARRAY[1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]::float8[])[price_scale + 1]) AS open,
        COALESCE(high, high_i::float8 / (ARRAY[1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]::float8[])[price_scale + 1]) AS high,
        COALESCE(low, low_i::float8 / (ARRAY[1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]::float8[])[price_scale + 1]) AS low,
        COALESCE(close, close_i::float8 / (ARRAY[1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]::float8[])[price_scale + 1]) AS close,
        volume, metadata, ingested_at
    FROM bars_intraday
    UNION ALL
    SELECT symbol, "interval", provider, ts,
        COALESCE(open, open_i::float8 / (ARRAY[1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]::float8[])[price_scale + 1]) AS open,
        COALESCE(high, high_i::float8 / (ARRAY[1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]::float8[])[price_scale + 1]) AS high,
        COALESCE(low, low_i::float8 / (ARRAY[1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]::float8[])[price_scale + 1]) AS low,
        COALESCE(close, close_i::float8 / (ARRAY[1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]::float8[])[price_scale + 1]) AS close,
        volume, metadata, ingested_at
    FROM bars_daily;
