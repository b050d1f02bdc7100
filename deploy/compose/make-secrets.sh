#!/bin/sh
# Make the secrets docker-compose.prod.yml reads (into ./secrets, or the directory given), once:
# the database password, the Prometheus and admin API keys (clear text for their holders, SHA-256
# for the gateway's auth.keys), a private CA and the gateway's TLS certificate for the names
# `gateway` and `localhost` (replace tls.crt/tls.key/ca.crt with your own PKI's when you have one).
# Existing files are kept. Needs openssl and sha256sum.
#
# Docker Compose (without Swarm) bind-mounts secret files with their host permissions: the
# gateway (uid 10001), the database and Prometheus must be able to read them, so the files are
# 0644 inside a 0700 directory only the operator can enter.
set -eu
dir=${1:-${TIMEBASE_SECRETS_DIR:-./secrets}}
mkdir -p "$dir"
chmod 0700 "$dir"
cd "$dir"
umask 022

random() { openssl rand -hex 32; }
make_key() { # API keys: `tb_` + 48 hex characters; the gateway keeps only the SHA-256
    [ -s "$1" ] || printf 'tb_%s' "$(openssl rand -hex 24)" > "$1"
    printf '%s' "$(cat "$1")" | sha256sum | cut -d' ' -f1 > "$1.sha256"
}

[ -s db_password ] || random > db_password
[ -s grafana_admin_password ] || random > grafana_admin_password
make_key prometheus_key
make_key admin_key
if [ ! -s tls.crt ]; then
    openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=TimeBase private CA" \
        -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:3072 -nodes -subj "/CN=gateway" -keyout tls.key -out tls.csr 2>/dev/null
    printf 'subjectAltName=DNS:gateway,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > tls.ext
    openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
        -extfile tls.ext -out tls.crt 2>/dev/null
    rm -f tls.csr tls.ext ca.srl
    chmod 0600 ca.key
fi
chmod 0644 db_password grafana_admin_password prometheus_key prometheus_key.sha256 \
    admin_key admin_key.sha256 tls.crt tls.key ca.crt
echo "secrets in $(pwd): db_password, admin_key (your admin API key), prometheus_key, tls.crt/tls.key/ca.crt"
