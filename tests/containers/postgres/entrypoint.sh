#!/bin/sh
# Initialise $PGDATA on first start (superuser $POSTGRES_USER with $POSTGRES_PASSWORD, or the
# contents of $POSTGRES_PASSWORD_FILE; database $POSTGRES_DB; password logins from the network),
# then run the server in the foreground with TimescaleDB preloaded.
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
# As the official images: the password may come from a file (a Docker secret) instead.
if [ -z "${POSTGRES_PASSWORD:-}" ] && [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" > "$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
        createdb --username="$POSTGRES_USER" "$POSTGRES_DB"
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "postgres-entrypoint: initialised $PGDATA"
fi
# TimescaleDB preloaded (telemetry off), as in the official timescale/timescaledb image.
exec postgres -c listen_addresses='*' -c shared_preload_libraries=timescaledb \
    -c timescaledb.telemetry_level=off "$@"
