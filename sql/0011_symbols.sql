-- The symbol catalogue: one row per (symbol, provider). `listed`: the provider's GetSymbols listed
-- it at the last refresh (name, type, intervals and metadata come from there); `stored`: bars of
-- it from that provider were stored (a symbol served but never listed, e.g. any Yahoo ticker). A
-- row neither listed nor stored is deleted. Searched by symbol prefix/substring, name, type.
CREATE TABLE symbols (
    symbol     text        NOT NULL,
    provider   text        NOT NULL,
    name       text        NOT NULL DEFAULT '',
    type       text        NOT NULL DEFAULT '',
    intervals  text[]      NOT NULL DEFAULT '{}',
    metadata   jsonb       NOT NULL DEFAULT '{}',
    listed     boolean     NOT NULL DEFAULT false,
    stored     boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, provider)
);

CREATE INDEX symbols_prefix ON symbols (symbol text_pattern_ops);
CREATE INDEX symbols_provider ON symbols (provider);
