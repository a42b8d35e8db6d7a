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
