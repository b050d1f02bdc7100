# Docker for CI: sourced by .ci/run (bash). Defines two functions:
#
#   docker_provision   make a Docker API reachable for the `docker`-marked tests, then make sure
#                      the local base image and the host-side wheelhouse exist (cached);
#   docker_teardown    stop the dockerd docker_provision started (nothing else).
#
# A developer's own Docker is used as it is: DOCKER_HOST, or the default socket. Otherwise, as
# root, Debian's docker.io (and debootstrap, docker-compose) is installed when missing and dockerd
# is started on a private socket and data root; the data root persists, so images built by one run
# (the base image, the provider and gateway images) are the next run's cache. Nothing here is
# fatal: when provisioning fails it says why and returns, and the docker tests then skip visibly.

TIMEBASE_CI_RUN_DIR=${TIMEBASE_CI_RUN_DIR:-/run/timebase-ci}
TIMEBASE_CI_DOCKER_ROOT=${TIMEBASE_CI_DOCKER_ROOT:-/var/lib/timebase-ci-docker}
_TB_DOCKERD_PID=""

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

_tb_start_dockerd() {
    local sock="$TIMEBASE_CI_RUN_DIR/docker.sock"
    local pidfile="$TIMEBASE_CI_RUN_DIR/docker.pid"
    mkdir -p "$TIMEBASE_CI_RUN_DIR" "$TIMEBASE_CI_DOCKER_ROOT"
    export DOCKER_HOST="unix://$sock"
    # A dockerd of an earlier run that was not stopped: adopt it (and stop it at the end).
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && _tb_docker_up; then
        _TB_DOCKERD_PID=$(cat "$pidfile")
        _tb_say "reusing dockerd (pid $_TB_DOCKERD_PID) on $DOCKER_HOST"
        return 0
    fi
    rm -f "$pidfile" "$sock"
    dockerd -H "$DOCKER_HOST" --data-root "$TIMEBASE_CI_DOCKER_ROOT" \
        --exec-root "$TIMEBASE_CI_RUN_DIR/exec" --pidfile "$pidfile" \
        >"$TIMEBASE_CI_RUN_DIR/dockerd.log" 2>&1 &
    _TB_DOCKERD_PID=$!
    local i
    for i in $(seq 1 60); do
        if _tb_docker_up; then
            _tb_say "dockerd $(docker version --format '{{.Server.Version}}') up on $DOCKER_HOST (pid $_TB_DOCKERD_PID)"
            return 0
        fi
        kill -0 "$_TB_DOCKERD_PID" 2>/dev/null || break
        sleep 0.5
    done
    _tb_say "dockerd did not come up; the end of its log:"
    tail -n 20 "$TIMEBASE_CI_RUN_DIR/dockerd.log" >&2 || true
    docker_teardown
    unset DOCKER_HOST
    return 1
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
        _tb_start_dockerd || { _tb_say "the docker tests will skip"; return 0; }
    fi
    # Cached between runs; a failure here only makes the container tests skip with the reason.
    make --no-print-directory base-image || _tb_say "no base image: the container tests will skip"
    make --no-print-directory wheelhouse || _tb_say "no wheelhouse: the container tests will skip"
}

docker_teardown() {
    local pid=$_TB_DOCKERD_PID
    [ -n "$pid" ] || return 0
    _TB_DOCKERD_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        _tb_say "stopping dockerd (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || return 0
            sleep 0.5
        done
        _tb_say "dockerd did not stop within 30 s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
}
