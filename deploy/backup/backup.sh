#!/bin/sh
# TimeBase's scheduled backups (the `backup` service of docker-compose.prod.yml): a custom-format
# pg_dump of the database every BACKUP_INTERVAL_SECONDS into BACKUP_DIR, the BACKUP_KEEP newest
# kept. Runs in the database's own image, so pg_dump is the server's version; a pg_dump older
# than the server is refused (it could not read the server's catalogs faithfully).
#
#   backup.sh          loop forever (first dump at once)
#   backup.sh once     one dump, then exit (restore drills, tests, before upgrades)
#
# Connection: libpq's PGHOST, PGPORT, PGUSER, PGDATABASE; the password from the file named by
# PGPASSWORD_FILE (a Docker secret), never from the command line.
set -eu
: "${BACKUP_DIR:=/backups}" "${BACKUP_INTERVAL_SECONDS:=86400}" "${BACKUP_KEEP:=7}"
: "${PGDATABASE:=timebase}"
if [ -n "${PGPASSWORD_FILE:-}" ]; then
    PGPASSWORD=$(cat "$PGPASSWORD_FILE")
    export PGPASSWORD
fi

log() { echo "timebase-backup: $*" >&2; }

wait_for_server() {
    i=0
    until pg_isready -q -d "$PGDATABASE"; do
        i=$((i + 1))
        [ "$i" -lt 60 ] || { log "the database did not answer within 120 s"; return 1; }
        sleep 2
    done
}

check_versions() {
    server=$(psql -d "$PGDATABASE" -AtXc 'SHOW server_version_num')
    client=$(pg_dump --version | grep -oE '[0-9]+' | head -n 1)
    if [ "$client" -lt "$((server / 10000))" ]; then
        log "$(pg_dump --version) is older than the server ($server): refusing"
        return 1
    fi
}

dump_once() {
    wait_for_server
    check_versions
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    target="$BACKUP_DIR/$PGDATABASE-$stamp.dump"
    # Written under a temporary name and renamed: a listed dump is always a complete one.
    pg_dump -d "$PGDATABASE" --format=custom --compress=6 --file="$target.partial"
    mv "$target.partial" "$target"
    log "wrote $target ($(wc -c < "$target") bytes)"
    # Keep the BACKUP_KEEP newest (names sort by time).
    ls -1 "$BACKUP_DIR"/"$PGDATABASE"-*.dump 2>/dev/null | sort -r | tail -n +"$((BACKUP_KEEP + 1))" \
        | while read -r old; do rm -f "$old" && log "removed $old"; done
}

mkdir -p "$BACKUP_DIR"
if [ "${1:-}" = once ]; then
    dump_once
    exit 0
fi
while :; do
    dump_once || log "backup failed; next try in $BACKUP_INTERVAL_SECONDS s"
    sleep "$BACKUP_INTERVAL_SECONDS" &
    wait $!
done
