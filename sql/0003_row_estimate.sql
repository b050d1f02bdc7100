-- The planner's estimate of the rows a query returns, without running it: Flight's FlightInfo
-- carries a row estimate, and counting millions of rows would cost a scan of its own.
-- `query` is a SELECT built by TimeBase from literals (timebase.store.bars.BarQuery.sql).
CREATE FUNCTION timebase_row_estimate(query text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
END
$$;
