# Docker for CI: sourced by .ci/run (bash). Defines two functions:
#
#   docker_provision   make a Docker API reachable for the `docker`-marked tests, then make sure
#                      the local base image and the host-side wheelhouse exist (cached);
#   docker_teardown    stop the private dockerd when no other run still uses it (nothing else);
#   docker_exec CMD    run CMD without the lock descriptor (so nothing it leaves behind holds it).
#
# A developer's own Docker is used as it is: DOCKER_HOST, or the default socket. Otherwise, as
# root, Debian's docker.io (and debootstrap, docker-compose) is installed when missing and dockerd
# is started on a private socket and data root; the data root persists, so images built by one run
# (the base image, the provider and gateway images) are the next run's cache. Nothing here is
# fatal: when provisioning fails it says why and returns, and the docker tests then skip visibly.
#
# Several runs on one machine share the private dockerd (one data root allows one daemon): each
# holds a shared lock on $TIMEBASE_CI_RUN_DIR/lock while it runs; the daemon is started under the
# exclusive lock, and stopped only by the run that can take the exclusive lock at its end (the
# last one out).

TIMEBASE_CI_RUN_DIR=${TIMEBASE_CI_RUN_DIR:-/run/timebase-ci}
TIMEBASE_CI_DOCKER_ROOT=${TIMEBASE_CI_DOCKER_ROOT:-/var/lib/timebase-ci-docker}
_TB_LOCK_FD=""

_tb_say() { echo "ci/docker: $*" >&2; }

# True when the Docker API at $DOCKER_HOST (or the default socket) answers.
_tb_docker_up() {
    timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

_tb_apt_install() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    _tb_say "installing ${missing[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}

# Under the exclusive lock: the private dockerd is up (started when it is not).
_tb_start_dockerd() {
    local sock="$TIMEBASE_CI_RUN_DIR/docker.sock"
    local pidfile="$TIMEBASE_CI_RUN_DIR/docker.pid"
    export DOCKER_HOST="unix://$sock"
    if _tb_docker_up; then
        _tb_say "sharing the running dockerd on $DOCKER_HOST"
        return 0
    fi
    rm -f "$pidfile" "$sock"
    dockerd -H "$DOCKER_HOST" --data-root "$TIMEBASE_CI_DOCKER_ROOT" \
        --exec-root "$TIMEBASE_CI_RUN_DIR/exec" --pidfile "$pidfile" \
        >"$TIMEBASE_CI_RUN_DIR/dockerd.log" 2>&1 {_TB_LOCK_FD}>&- &
    local pid=$!
    local i
    for i in $(seq 1 60); do
        if _tb_docker_up; then
            _tb_say "dockerd $(docker version --format '{{.Server.Version}}') up on $DOCKER_HOST (pid $pid)"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    _tb_say "dockerd did not come up; the end of its log:"
    tail -n 20 "$TIMEBASE_CI_RUN_DIR/dockerd.log" >&2 || true
    kill -TERM "$pid" 2>/dev/null || true
    unset DOCKER_HOST
    return 1
}

_tb_stop_dockerd() {
    local pidfile="$TIMEBASE_CI_RUN_DIR/docker.pid"
    [ -f "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    kill -0 "$pid" 2>/dev/null || return 0
    _tb_say "stopping dockerd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.5
    done
    _tb_say "dockerd did not stop within 30 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

docker_provision() {
    if command -v docker >/dev/null && _tb_docker_up; then
        _tb_say "using the Docker API at ${DOCKER_HOST:-the default socket}"
    elif [ "$(id -u)" != 0 ]; then
        _tb_say "no Docker API reachable and not root: the docker tests will skip"
        return 0
    else
        if ! _tb_apt_install docker.io debootstrap docker-compose; then
            _tb_say "cannot install docker.io: the docker tests will skip"
            return 0
        fi
        mkdir -p "$TIMEBASE_CI_RUN_DIR" "$TIMEBASE_CI_DOCKER_ROOT"
        exec {_TB_LOCK_FD}>"$TIMEBASE_CI_RUN_DIR/lock"
        flock -x "$_TB_LOCK_FD"
        if ! _tb_start_dockerd; then
            flock -u "$_TB_LOCK_FD"
            _tb_say "the docker tests will skip"
            return 0
        fi
        flock -s "$_TB_LOCK_FD" # other runs may share the daemon now
    fi
    # Cached between runs; a failure here only makes the container tests skip with the reason.
    docker_exec make --no-print-directory base-image \
        || _tb_say "no base image: the container tests will skip"
    docker_exec make --no-print-directory wheelhouse \
        || _tb_say "no wheelhouse: the container tests will skip"
}

docker_exec() {
    if [ -n "$_TB_LOCK_FD" ]; then
        "$@" {_TB_LOCK_FD}>&-
    else
        "$@"
    fi
}

docker_teardown() {
    local fd=$_TB_LOCK_FD
    [ -n "$fd" ] || return 0
    _TB_LOCK_FD=""
    if flock -xn "$fd"; then
        _tb_stop_dockerd
    else
        _tb_say "dockerd left running: another run still uses it (the last one stops it)"
    fi
    exec {fd}>&-
}
