#!/usr/bin/env bash
# with-mongo.sh CMD [ARGS...]
#
# Runs CMD with MONGO_URI pointing at a throw-away MongoDB wire protocol
# server: FerretDB v1.24.0 (the wrapper module in .ci/ferretdb) on a private
# PostgreSQL 15 cluster. Everything it starts is stopped by PID, and its temp
# dir removed, when CMD ends; the exit status is CMD's. See docs/testing.md.
#
#   LUCID_MONGO=off     start nothing; just run CMD (the Mongo tests skip)
#   MONGO_URI=...       already set: use that server; start nothing
#   PGBIN=...           PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
#
# Works as root (CI: PostgreSQL runs as the 'postgres' user, via runuser) and
# as a normal user (PostgreSQL runs as that user). Installs the Debian
# 'postgresql' package if it is missing (sudo when not root).
#
# No fixed ports: FerretDB listens on 127.0.0.1:0 (the kernel picks a free
# port, and the wrapper reports it), and PostgreSQL listens on no TCP port at
# all, only on a Unix socket inside the temp dir, so runs can't collide with
# each other or with anything else on the machine.
set -euo pipefail

say() { echo "with-mongo: $*" >&2; }

if (($# == 0)); then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi
if [[ "${LUCID_MONGO:-}" == off ]]; then
	say "LUCID_MONGO=off: starting no MongoDB server; the tests that need one skip"
	exec "$@"
fi
if [[ -n "${MONGO_URI:-}" ]]; then
	say "using the MongoDB server at MONGO_URI from the environment; starting none"
	exec "$@"
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WRAPPER_SRC="$HERE/ferretdb"
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
t0=$(date +%s.%N)

# --- 1. The FerretDB wrapper binary, cached by a hash of its sources and Go.
# The first build takes about 1 min on 2 cores (plus the module download).
cache_dir="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/lucid-ci/ferretdb"
key=$( {
	cat "$WRAPPER_SRC/go.mod" "$WRAPPER_SRC/go.sum" "$WRAPPER_SRC/main.go"
	go version
	go env GOOS GOARCH
} | sha256sum | cut -c1-16)
FERRETDB="$cache_dir/ferretdb-$key"
if [[ ! -x "$FERRETDB" ]]; then
	say "building the FerretDB wrapper (.ci/ferretdb) into $cache_dir (about 1 min the first time)"
	mkdir -p "$cache_dir"
	find "$cache_dir" -maxdepth 1 -name '.build.*' -mmin +120 -delete 2>/dev/null || true # interrupted builds
	tmp_bin=$(mktemp "$cache_dir/.build.XXXXXX")
	if ! (cd "$WRAPPER_SRC" && GOWORK=off GOFLAGS=-mod=readonly go build -buildvcs=false -trimpath -ldflags='-s -w' -o "$tmp_bin" .); then
		rm -f "$tmp_bin"
		say "building the FerretDB wrapper failed"
		exit 1
	fi
	mv -f "$tmp_bin" "$FERRETDB" # atomic: a concurrent run sees the old or the new file
	find "$cache_dir" -maxdepth 1 -name 'ferretdb-*' ! -name "ferretdb-$key" -delete 2>/dev/null || true
fi

# --- 2. PostgreSQL 15 (Debian package).
as_root=false
[[ $(id -u) -eq 0 ]] && as_root=true
if [[ ! -x "$PGBIN/initdb" ]]; then
	say "installing the Debian 'postgresql' package"
	sudo=""
	if ! $as_root; then
		if ! command -v sudo >/dev/null; then
			say "$PGBIN/initdb is missing and there is no sudo: install the 'postgresql' package, or run with LUCID_MONGO=off"
			exit 1
		fi
		sudo="sudo"
	fi
	$sudo apt-get update -qq || say "apt-get update failed; trying the cached package lists"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
	if [[ ! -x "$PGBIN/initdb" ]]; then
		say "$PGBIN/initdb is still missing after installing 'postgresql' (set PGBIN?)"
		exit 1
	fi
fi
# PostgreSQL refuses to run as root: as root, run it as 'postgres'.
pg() { "$@"; }
if $as_root; then
	if ! id -u postgres >/dev/null 2>&1; then
		say "running as root, but there is no 'postgres' user to run PostgreSQL as"
		exit 1
	fi
	pg() { runuser -u postgres -- "$@"; }
fi

# --- 3. Temp dir, and clean-up of everything started below.
# The Unix socket path must stay short (about 100 bytes), and as root the
# 'postgres' user must be able to reach it: so /tmp unless TMPDIR is short.
tmp_base=${TMPDIR:-/tmp}
if $as_root || ((${#tmp_base} > 60)) || [[ ! -d "$tmp_base" ]]; then
	tmp_base=/tmp
fi
WORK=$(mktemp -d "$tmp_base/lucid-mongo.XXXXXX")
chmod 0755 "$WORK"
PGDIR="$WORK/pg" # data/, log, socket
FERRET_PID=""
PG_STARTED=false

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if [[ -n "$FERRET_PID" ]] && kill -0 "$FERRET_PID" 2>/dev/null; then
		kill -TERM "$FERRET_PID" 2>/dev/null
		for _ in $(seq 100); do # up to 10 s
			kill -0 "$FERRET_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$FERRET_PID" 2>/dev/null
		wait "$FERRET_PID" 2>/dev/null
	fi
	if $PG_STARTED; then
		if ! pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
			pg_pid=$(head -n1 "$PGDIR/data/postmaster.pid" 2>/dev/null)
			[[ "$pg_pid" =~ ^[0-9]+$ ]] && kill -KILL "$pg_pid" 2>/dev/null
		fi
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { # message; prints the logs' tails and exits non-zero
	say "$1"
	local f
	for f in "$PGDIR/initdb.log" "$PGDIR/log" "$WORK/ferretdb.log"; do
		if [[ -s "$f" ]]; then
			echo "---- tail of $(basename "$f") ----" >&2
			tail -n 40 "$f" >&2
		fi
	done
	exit 1
}

# --- 4. A private PostgreSQL cluster: no TCP, a Unix socket in $PGDIR.
mkdir -p "$PGDIR"
$as_root && chown postgres: "$PGDIR"
pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
	>"$PGDIR/initdb.log" 2>&1 || fail "initdb failed"
rm -f "$PGDIR/initdb.log" # kept only for a failure report
cat >>"$PGDIR/data/postgresql.conf" <<EOF
# with-mongo.sh: a throw-away test cluster
listen_addresses = ''
unix_socket_directories = '$PGDIR'
port = 5432
EOF
PG_STARTED=true # from here on, clean-up stops it (pg_ctl stop is harmless if it never ran)
pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w -t 60 \
	-o "-c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null 2>&1 ||
	fail "PostgreSQL did not start"
pg "$PGBIN/psql" -X -q -h "$PGDIR" -p 5432 -U postgres -d postgres -c 'CREATE DATABASE ferretdb' \
	>>"$PGDIR/log" 2>&1 || fail "CREATE DATABASE failed"

# --- 5. FerretDB on a free loopback port.
"$FERRETDB" --handler=postgresql \
	--postgresql-url="postgres://postgres@/ferretdb?host=$PGDIR&port=5432" \
	--listen-addr=127.0.0.1:0 --uri-file="$WORK/uri" --log-level=warn \
	>"$WORK/ferretdb.log" 2>&1 </dev/null &
FERRET_PID=$!
for _ in $(seq 300); do # up to 30 s; it normally takes well under 0.1 s
	[[ -s "$WORK/uri" ]] && break
	kill -0 "$FERRET_PID" 2>/dev/null || fail "FerretDB exited at start-up"
	sleep 0.1
done
[[ -s "$WORK/uri" ]] || fail "FerretDB did not start listening within 30 s"
MONGO_URI=$(<"$WORK/uri")
hostport=${MONGO_URI#mongodb://}
hostport=${hostport%%/*}
(exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null ||
	fail "FerretDB does not accept connections at $hostport"
export MONGO_URI

ready=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
say "MongoDB wire protocol server at $MONGO_URI: FerretDB 1.24 on PostgreSQL 15 (pid $FERRET_PID, data in $WORK, ready in ${ready} s)"

# --- 6. The command. Its status is ours; the EXIT trap stops the servers.
set +e
"$@"
status=$?
set -e
if ((status != 0)) && [[ -s "$WORK/ferretdb.log" ]]; then
	say "the command failed (exit status $status); the tail of FerretDB's log (warnings and errors, some of them expected, such as duplicate keys):"
	tail -n 20 "$WORK/ferretdb.log" | cut -c1-400 >&2
fi
exit "$status"
