# Shared helpers for scripts/*: sourced, never run.

STATEROOM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# PostgreSQL's server binaries (initdb, pg_ctl) are not on PATH on Debian.
pg_bindir() {
	local dir
	dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$dir" ] || die "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (run scripts/setup)"
	printf '%s\n' "$dir"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Settles the port of scripts/pg's throwaway cluster and exports it as
# STATEROOM_PG_PORT, for scripts that start one (nothing to do when
# DATABASE_URL names a server). The default port may already belong to a
# PostgreSQL these scripts do not manage (a developer's own): the cluster
# then takes the next free port above it, which stays the same from run to
# run, so its data folder is reused. A port the caller chose is never moved.
# Returns 1, having said why, when there is no port to take.
pg_settle_port() {
	local port=${STATEROOM_PG_PORT:-55432} p
	[ -z "${DATABASE_URL:-}" ] || return 0
	for ((p = port; p < port + 100; p++)); do
		# Ours (running) or nobody's: take it.
		if STATEROOM_PG_PORT=$p "$STATEROOM_ROOT/scripts/pg" status >/dev/null 2>&1 ||
			! port_in_use "$p"; then
			break
		fi
		if [ -n "${STATEROOM_PG_PORT:-}" ]; then
			printf 'error: %s\n' "127.0.0.1:$p (STATEROOM_PG_PORT) is taken by a server scripts/pg does not manage: set STATEROOM_PG_PORT to a free port, or DATABASE_URL to use that server (for example DATABASE_URL=postgresql://postgres@127.0.0.1:$p/postgres)" >&2
			return 1
		fi
	done
	if ((p == port + 100)); then
		printf 'error: %s\n' "no free port for PostgreSQL in $port-$((port + 99)): set STATEROOM_PG_PORT or DATABASE_URL" >&2
		return 1
	fi
	((p == port)) || say "127.0.0.1:$port is taken by a server scripts/pg does not manage; the throwaway cluster uses port $p (set DATABASE_URL to use the other one instead)"
	export STATEROOM_PG_PORT=$p
}

# Polls an HTTP URL until it answers 200 or the deadline (seconds) passes.
wait_http_ok() {
	local url=$1 secs=${2:-30} i
	for ((i = 0; i < secs * 10; i++)); do
		if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}
