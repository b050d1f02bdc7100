#!/usr/bin/env bash
# A local stand-in for `python:3.11-slim`, for machines that cannot pull from a registry.
#
# The Dockerfiles keep `FROM python:3.11-slim` (what users pull). When that tag is missing from
# the engine at $DOCKER_HOST, this builds one from Debian packages: debootstrap (minbase) of
# bookworm, whose python3 is 3.11, plus python3-pip and python3-venv, imported as the tag. It is
# made to behave like the official image where the Dockerfiles rely on it: `python` and `pip`
# resolve, `pip install` installs system-wide (no "externally managed" refusal), LANG=C.UTF-8.
#
# The Debian mirror is the one this machine's apt already uses (read from its apt sources, never
# written into the repository). The image tarball is cached in $TIMEBASE_CACHE_DIR, so a fresh
# engine gets the image back in seconds. Needs root (debootstrap, chroot) only to build.
set -euo pipefail

TAG=${BASE_IMAGE_TAG:-python:3.11-slim}
CACHE_DIR=${TIMEBASE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/timebase-ci}
TARBALL="$CACHE_DIR/python-3.11-slim-bookworm.tar"
CHANGES=(
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change 'ENV LANG=C.UTF-8'
    --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1'
    --change 'CMD ["python3"]'
)

say() { echo "base-image: $*" >&2; }

if docker image inspect "$TAG" >/dev/null 2>&1; then
    say "$TAG is present"
    exit 0
fi
if [ -s "$TARBALL" ]; then
    say "importing $TAG from the cached $TARBALL"
    docker import "${CHANGES[@]}" "$TARBALL" "$TAG" >/dev/null
    exit 0
fi
[ "$(id -u)" = 0 ] || { say "building $TAG needs root (debootstrap)"; exit 1; }
command -v debootstrap >/dev/null || { say "debootstrap is not installed"; exit 1; }

# The first http(s) Debian mirror of the machine's apt sources (one-line and deb822 formats).
mirror() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\//) { print $i; exit } }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\// && $i !~ /security/) { print $i; exit } }' "$f"
    done
}
MIRROR=$(mirror | grep -v security | head -n 1 || true)
[ -n "$MIRROR" ] || { say "no Debian mirror found in the apt sources"; exit 1; }

ROOTFS=$(mktemp -d /var/tmp/timebase-base-XXXXXX)
cleanup() {
    umount "$ROOTFS/proc" 2>/dev/null || true
    rm -rf "$ROOTFS"
}
trap cleanup EXIT

say "debootstrap bookworm (minbase) into $ROOTFS"
debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 \
    || { tail -n 20 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
say "installing python3, pip and venv"
mount -t proc proc "$ROOTFS/proc"
chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    python3 python3-pip python3-venv >/dev/null
chroot "$ROOTFS" apt-get clean
umount "$ROOTFS/proc"
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/tmp/* "$ROOTFS"/root/.cache
# Like the official image: `python` and `pip` on the PATH, system-wide pip installs allowed.
ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
ln -sf /usr/bin/pip3 "$ROOTFS/usr/local/bin/pip"
rm -f "$ROOTFS"/usr/lib/python3*/EXTERNALLY-MANAGED

mkdir -p "$CACHE_DIR"
tar --numeric-owner -C "$ROOTFS" -cf "$TARBALL.tmp" .
mv "$TARBALL.tmp" "$TARBALL"
docker import "${CHANGES[@]}" "$TARBALL" "$TAG" >/dev/null
say "$TAG built ($(du -h "$TARBALL" | cut -f1), cached in $TARBALL)"
