#!/bin/sh
# Restore a TimeBase backup made by backup.sh into a fresh database (stop the gateways first:
# `docker-compose ... stop gateway`). The database named by PGDATABASE is dropped and created
# again; with TimescaleDB, the documented sequence is followed: CREATE EXTENSION, then
# timescaledb_pre_restore(), pg_restore, timescaledb_post_restore() (the TimescaleDB version
# must be the one the dump was taken with: restore into the same image).
#
#   restore.sh /backups/timebase-20250101T000000Z.dump
#   restore.sh latest                      the newest dump in BACKUP_DIR
#
# Connection as backup.sh (PGHOST, PGUSER, PGDATABASE, PGPASSWORD_FILE); the user must be allowed
# to create databases (the compose database's user is its superuser).
set -eu
: "${BACKUP_DIR:=/backups}" "${PGDATABASE:=timebase}"
if [ -n "${PGPASSWORD_FILE:-}" ]; then
    PGPASSWORD=$(cat "$PGPASSWORD_FILE")
    export PGPASSWORD
fi
log() { echo "timebase-restore: $*" >&2; }

dump=${1:?usage: restore.sh DUMP_FILE | latest}
if [ "$dump" = latest ]; then
    dump=$(ls -1 "$BACKUP_DIR"/"$PGDATABASE"-*.dump 2>/dev/null | sort -r | head -n 1)
    [ -n "$dump" ] || { log "no dump in $BACKUP_DIR"; exit 1; }
fi
[ -r "$dump" ] || { log "cannot read $dump"; exit 1; }
pg_restore --list "$dump" >/dev/null || { log "$dump is not a pg_dump custom-format archive"; exit 1; }

db=$PGDATABASE
log "restoring $dump into database $db (dropped and created again)"
psql -d postgres -v ON_ERROR_STOP=1 -qX \
    -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
    -c "CREATE DATABASE \"$db\""
if pg_restore --list "$dump" | grep -q ' EXTENSION - timescaledb$'; then
    psql -d "$db" -v ON_ERROR_STOP=1 -qX \
        -c "CREATE EXTENSION IF NOT EXISTS timescaledb" \
        -c "SELECT timescaledb_pre_restore()" >/dev/null
    # The extension exists already: its own entry in the archive is skipped (--exit-on-error
    # stays meaningful for everything else).
    pg_restore --list "$dump" | grep -v ' EXTENSION - timescaledb$' \
        | grep -v ' COMMENT - EXTENSION timescaledb$' > /tmp/timebase-restore.list
    pg_restore -d "$db" --exit-on-error --use-list=/tmp/timebase-restore.list "$dump"
    psql -d "$db" -v ON_ERROR_STOP=1 -qX -c "SELECT timescaledb_post_restore()" >/dev/null
    rm -f /tmp/timebase-restore.list
else
    pg_restore -d "$db" --exit-on-error "$dump"
fi
log "restored $dump; start the gateways again"
