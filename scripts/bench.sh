#!/usr/bin/env bash
# Side-by-side benchmark of Berth and CNCF Distribution v3.1.2 on this machine.
#
# Builds berth and berthbench, installs Distribution if missing (binaries cached
# in .tools/bin), then runs the berthbench scenarios in alternating rounds
# (Distribution, Berth, Distribution, Berth, ...), starting each server with a
# fresh data directory on 127.0.0.1 every round, and writes the comparison
# (medians, ratios Berth/Distribution, verdicts against the targets) into
# docs/benchmarks.md. Raw JSON, logs and the report of every run are kept in
# results/<timestamp>/ (gitignored).
#
# Usage: scripts/bench.sh [--rounds N] [--scenarios LIST] [--quick]
#                         [--only berth|distribution] [--keep-data]
#
#   --rounds N         rounds per server (default 3)
#   --scenarios LIST   berthbench scenario names, comma-separated, or all (default all;
#                      large-blob is opt-in: --scenarios all,large-blob)
#   --quick            smaller sizes and counts, a smoke run of a couple of minutes;
#                      its report goes to results/ only, never to docs/
#   --only SERVER      run one server only (berth or distribution): validates the
#                      harness; the report goes to results/ only, never to docs/
#   --keep-data        keep the servers' data directories after each round
#
# Environment: BENCH_DATA_ROOT (where data directories are made; default $TMPDIR
# or /tmp), BERTH_SERVE_ARGS (extra arguments to 'berth serve').
set -euo pipefail

DIST_VERSION=v3.1.2
DIST_MODULE=github.com/distribution/distribution/v3/cmd/registry

rounds=3
scenarios=all
quick=0
only=both
keep_data=0

die() { echo "bench.sh: $*" >&2; exit 1; }
note() { echo "==> $*" >&2; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
	--scenarios) scenarios=${2:?--scenarios needs a list}; shift 2 ;;
	--quick) quick=1; shift ;;
	--only) only=${2:?--only needs berth or distribution}; shift 2 ;;
	--keep-data) keep_data=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive number, not '$rounds'"
case $only in both | berth | distribution) ;; *) die "--only must be berth or distribution, not '$only'" ;; esac
command -v curl >/dev/null || die "curl is needed to wait for the servers"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export GOTOOLCHAIN=local
if ! command -v go >/dev/null; then PATH=/usr/local/go/bin:$PATH; fi
command -v go >/dev/null || die "go not found (expected at /usr/local/go/bin)"
tools=$root/.tools/bin
mkdir -p "$tools" bin

stamp=$(date -u +%Y%m%dT%H%M%SZ)
run_dir=$root/results/$stamp
mkdir -p "$run_dir"
data_base=$(mktemp -d "${BENCH_DATA_ROOT:-${TMPDIR:-/tmp}}/berth-bench.XXXXXX")

# --- build -------------------------------------------------------------------

note "building berthbench"
go build -o bin/berthbench ./cmd/berthbench
bench=$root/bin/berthbench

berth_ok=0
note "building berth (go build -o bin/berth ./cmd/berth)"
if go build -o bin/berth ./cmd/berth >"$run_dir/berth-build.log" 2>&1; then
	berth_ok=1
else
	echo >&2
	echo "bench.sh: ./cmd/berth DOES NOT BUILD YET; the Berth side cannot run:" >&2
	sed 's/^/    /' "$run_dir/berth-build.log" | head -20 >&2
	echo >&2
	if [[ $only != distribution ]]; then
		die "stopping. To validate the harness against Distribution alone: scripts/bench.sh --only distribution --quick"
	fi
	note "continuing: --only distribution does not need it"
fi

if ! [[ -x $tools/registry ]] || ! "$tools/registry" --version 2>/dev/null | grep -q "$DIST_VERSION"; then
	note "installing Distribution $DIST_VERSION into .tools/bin"
	GOBIN=$tools go install "$DIST_MODULE@$DIST_VERSION"
fi
"$tools/registry" --version | grep -q "$DIST_VERSION" || die ".tools/bin/registry is not Distribution $DIST_VERSION"

# --- servers -----------------------------------------------------------------

server_pid=""
cleanup() {
	if [[ -n $server_pid ]]; then stop_server; fi
	if [[ $keep_data == 0 ]]; then rm -rf "$data_base"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# wait_ready URL LOG: until URL answers 200, the server dies, or 60 s pass.
wait_ready() {
	local url=$1 log=$2
	for _ in $(seq 1 600); do
		if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then return 0; fi
		if ! kill -0 "$server_pid" 2>/dev/null; then
			tail -20 "$log" >&2
			die "server exited before $url answered (log: $log)"
		fi
		sleep 0.1
	done
	tail -20 "$log" >&2
	die "server not ready at $url after 60 s (log: $log)"
}

stop_server() {
	kill -TERM "$server_pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

# Distribution's configuration is that of its official image (filesystem
# storage, in-memory blob descriptor cache), with access logs off and level warn.
distribution_config() {
	local data=$1 port=$2
	cat <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $data
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
EOF
}

# start_server NAME DATA PORT LOG: starts the server, sets server_pid and url.
start_server() {
	local name=$1 data=$2 port=$3 log=$4
	url=http://127.0.0.1:$port
	case $name in
	distribution)
		distribution_config "$data" "$port" >"$data.yml"
		"$tools/registry" serve "$data.yml" >"$log" 2>&1 &
		server_pid=$!
		wait_ready "$url/v2/" "$log"
		;;
	berth)
		# shellcheck disable=SC2086 # BERTH_SERVE_ARGS is a list of words
		"$root/bin/berth" serve --addr "127.0.0.1:$port" --data-dir "$data" ${BERTH_SERVE_ARGS:-} >"$log" 2>&1 &
		server_pid=$!
		wait_ready "$url/readyz" "$log"
		;;
	esac
}

# --- run -------------------------------------------------------------------

servers=(distribution berth)
[[ $only != both ]] && servers=("$only")
[[ $berth_ok == 0 ]] && servers=(distribution)

quick_flag=()
selfcheck_size=1GiB
if [[ $quick == 1 ]]; then
	quick_flag=(--quick)
	selfcheck_size=256MiB
fi

read -r load1 _ </proc/loadavg
if awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }'; then
	note "WARNING: load average is $load1 before starting; other work on this machine will skew the figures"
fi

note "measuring the load tool itself (berthbench selfcheck --size $selfcheck_size)"
"$bench" selfcheck --size "$selfcheck_size" --json-out "$run_dir/selfcheck.json" >&2

problems=0
for r in $(seq 1 "$rounds"); do
	for s in "${servers[@]}"; do
		data=$(mktemp -d "$data_base/$s-r$r.XXXX")
		log=$run_dir/$s-r$r.server.log
		start_server "$s" "$data" "$(free_port)" "$log"
		note "round $r/$rounds: $s (pid $server_pid, $url, data $data)"
		out=$run_dir/$s-r$r.json
		rc=0
		"$bench" --registry "$url" --scenario "$scenarios" --server-pid "$server_pid" \
			--label "$s" --round "$r" "${quick_flag[@]}" -o json -v >"$out" 2>"$run_dir/$s-r$r.bench.log" || rc=$?
		stop_server
		[[ $keep_data == 0 ]] && rm -rf "$data" "$data.yml"
		case $rc in
		0) ;;
		3)
			problems=1
			note "round $r $s: SOME OPERATIONS FAILED (listed below and in the report)"
			;;
		*)
			tail -20 "$run_dir/$s-r$r.bench.log" >&2
			die "berthbench failed (exit $rc) in round $r against $s; see $run_dir/$s-r$r.bench.log"
			;;
		esac
		"$bench" show "$out" >&2
	done
done

# --- report ------------------------------------------------------------------

fs_type=$(findmnt -no FSTYPE -T "$data_base" 2>/dev/null || stat -f -c %T "$data_base")
fs_source=$(df -P "$data_base" | awk 'NR == 2 { print $1 " mounted on " $6 }')
cmdline="scripts/bench.sh --rounds $rounds --scenarios $scenarios"
[[ $quick == 1 ]] && cmdline+=" --quick"
[[ $only != both ]] && cmdline+=" --only $only"
report_args=(
	--meta "CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	--meta "cores=$(nproc) (servers and load tool share them; nothing pinned)"
	--meta "RAM=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	--meta "kernel=$(uname -sr)"
	--meta "data directories=$fs_type ($fs_source), under $data_base"
	--meta "Go=$(go version | cut -d' ' -f3-)"
	--meta "Distribution=$("$tools/registry" --version | awk '{ print $NF }')"
	--meta "Berth=commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
	--meta "date=$(date -u +%Y-%m-%dT%H:%MZ)"
	--meta "load average at start=$load1"
	--command "$cmdline"
	--command "# each round, each server, fresh data dir:"
	--command "registry serve config.yml   # Distribution $DIST_VERSION, config as in scripts/bench.sh"
	--command "bin/berth serve --addr 127.0.0.1:PORT --data-dir DIR ${BERTH_SERVE_ARGS:-}"
	--command "bin/berthbench --registry http://127.0.0.1:PORT --scenario $scenarios --server-pid PID --label SERVER --round N ${quick_flag[*]} -o json"
	--command "bin/berthbench report --require-both --out docs/benchmarks.md results/$stamp/*-r*.json"
	--selfcheck "$run_dir/selfcheck.json"
)

"$bench" report "${report_args[@]}" --out "$run_dir/benchmarks.md" "$run_dir"/*-r*.json
if [[ $only == both && $quick == 0 && $berth_ok == 1 ]]; then
	"$bench" report --require-both "${report_args[@]}" --out docs/benchmarks.md "$run_dir"/*-r*.json
	note "wrote docs/benchmarks.md"
else
	note "docs/benchmarks.md left untouched (a --quick or single-server run never writes final figures there)"
fi
note "report: $run_dir/benchmarks.md"
sed -n '/^## Summary/,/^## Machine/p' "$run_dir/benchmarks.md" | sed '$d'
if [[ $problems == 1 ]]; then
	die "some operations failed; see the Errors section of $run_dir/benchmarks.md"
fi
