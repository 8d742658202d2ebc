#!/usr/bin/env bash
# Side-by-side benchmark of Berth and CNCF Distribution v3.1.2 on this machine.
#
# Builds berth and berthbench, installs Distribution if missing (binaries cached
# in .tools/bin), then runs the berthbench scenarios in rounds, each round
# against every server in turn, each started fresh on 127.0.0.1:
#
#   distribution     Distribution v3.1.2, filesystem storage, fresh data directory
#   berth            Berth embedded (SQLite + filesystem), fresh data directory
#   berth-scaleout   Berth on a fresh PostgreSQL cluster (fsync and synchronous_commit
#                    on) and a fresh versitygw (S3) with a fresh bucket; after Berth's
#                    run, 'berthbench raws3' measures that versitygw on its own
#
# and writes the comparison (medians, ratios Berth/Distribution, verdicts against
# the targets, scale-out against embedded and against raw S3) into
# docs/benchmarks.md. Raw JSON, logs and the report of every run are kept in
# results/<timestamp>/ (gitignored).
#
# Usage: scripts/bench.sh [--rounds N] [--scenarios LIST] [--quick]
#                         [--servers LIST | --only SERVER] [--keep-data]
#
#   --rounds N         rounds per server (default 3)
#   --scenarios LIST   berthbench scenario names, comma-separated, or all (default all;
#                      large-blob is opt-in: --scenarios all,large-blob; it is run on
#                      distribution and berth only, never on berth-scaleout)
#   --quick            smaller sizes and counts, a smoke run of a few minutes;
#                      its report goes to results/ only, never to docs/
#   --servers LIST     servers to run, comma-separated, in round order (default
#                      distribution,berth,berth-scaleout)
#   --only SERVER      run one server only: validates the harness; the report goes
#                      to results/ only, never to docs/
#   --keep-data        keep the servers' data directories after each round
#
# docs/benchmarks.md is written only by a full-size run that includes both
# distribution and berth.
#
# Before each round (and each raw S3 run) the script waits until the 1-minute
# load average is below 1.0 (BENCH_QUIET_LOAD), for at most 600 s
# (BENCH_QUIET_WAIT), so that one round's load does not spill into the next.
#
# Environment: BENCH_DATA_ROOT (where data directories are made; default $TMPDIR
# or /tmp), BERTH_SERVE_ARGS (extra arguments to 'berth serve'), PG_BIN (the
# PostgreSQL server binaries; default the newest /usr/lib/postgresql/*/bin),
# BENCH_QUIET_LOAD and BENCH_QUIET_WAIT (above).
set -euo pipefail

DIST_VERSION=v3.1.2
DIST_MODULE=github.com/distribution/distribution/v3/cmd/registry
VERSITYGW_VERSION=v1.8.0
VERSITYGW_MODULE=github.com/versity/versitygw/cmd/versitygw

rounds=3
scenarios=all
quick=0
server_list=distribution,berth,berth-scaleout
only=""
keep_data=0
quiet_load=${BENCH_QUIET_LOAD:-1.0}
# Berth's access control is always on: the servers get this admin password
# and berthbench signs in with it (HTTP Basic on every request; Distribution,
# which runs without access control, ignores the header).
BENCH_PASSWORD=bench-admin-password
quiet_wait=${BENCH_QUIET_WAIT:-600}

die() { echo "bench.sh: $*" >&2; exit 1; }
note() { echo "==> $*" >&2; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
	case "$1" in
	--rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
	--scenarios) scenarios=${2:?--scenarios needs a list}; shift 2 ;;
	--quick) quick=1; shift ;;
	--servers) server_list=${2:?--servers needs a list}; shift 2 ;;
	--only) only=${2:?--only needs a server name}; server_list=$only; shift 2 ;;
	--keep-data) keep_data=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive number, not '$rounds'"
IFS=, read -r -a servers <<<"$server_list"
[[ ${#servers[@]} -gt 0 ]] || die "--servers is empty"
for s in "${servers[@]}"; do
	case $s in distribution | berth | berth-scaleout) ;; *) die "unknown server '$s' (want distribution, berth or berth-scaleout)" ;; esac
done
has_server() { [[ ,$server_list, == *,$1,* ]]; }
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

needs_berth=0
if has_server berth || has_server berth-scaleout; then needs_berth=1; fi
note "building berth (go build -o bin/berth ./cmd/berth)"
if ! go build -o bin/berth ./cmd/berth >"$run_dir/berth-build.log" 2>&1; then
	echo >&2
	echo "bench.sh: ./cmd/berth DOES NOT BUILD; the Berth side cannot run:" >&2
	sed 's/^/    /' "$run_dir/berth-build.log" | head -20 >&2
	echo >&2
	if [[ $needs_berth == 1 ]]; then
		die "stopping. To validate the harness against Distribution alone: scripts/bench.sh --only distribution --quick"
	fi
	note "continuing: --only distribution does not need it"
fi

if has_server distribution; then
	if ! [[ -x $tools/registry ]] || ! "$tools/registry" --version 2>/dev/null | grep -q "$DIST_VERSION"; then
		note "installing Distribution $DIST_VERSION into .tools/bin"
		GOBIN=$tools go install "$DIST_MODULE@$DIST_VERSION"
	fi
	"$tools/registry" --version | grep -q "$DIST_VERSION" || die ".tools/bin/registry is not Distribution $DIST_VERSION"
fi

if has_server berth-scaleout; then
	if ! [[ -x $tools/versitygw ]]; then
		note "installing versitygw $VERSITYGW_VERSION into .tools/bin (takes a few minutes the first time)"
		GOBIN=$tools go install "$VERSITYGW_MODULE@$VERSITYGW_VERSION"
	fi
	pg_bin=${PG_BIN:-$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)}
	[[ -n $pg_bin && -x $pg_bin/initdb && -x $pg_bin/pg_ctl ]] ||
		die "berth-scaleout needs PostgreSQL's initdb and pg_ctl (apt-get install postgresql, or set PG_BIN)"
fi

# --- servers -----------------------------------------------------------------

server_pid="" # the registry being measured
s3_pid=""     # versitygw of a scale-out round
pg_data=""    # PostgreSQL data directory of a scale-out round, while it runs
pg_log=""     # where its log is kept
cleanup() {
	if [[ -n $server_pid ]]; then stop_server; fi
	stop_scaleout_backends
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

# wait_ready URL LOG PID [any]: until URL answers 200 (any HTTP status with
# "any"), process PID dies, or 60 s pass.
wait_ready() {
	local url=$1 log=$2 pid=$3 any=${4:-}
	local flags=(-sS -o /dev/null --max-time 2)
	[[ -z $any ]] && flags+=(-f)
	for _ in $(seq 1 600); do
		if curl "${flags[@]}" "$url" 2>/dev/null; then return 0; fi
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -20 "$log" >&2
			die "server exited before $url answered (log: $log)"
		fi
		sleep 0.1
	done
	tail -20 "$log" >&2
	die "server not ready at $url after 60 s (log: $log)"
}

# stop_pid PID: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

stop_server() {
	stop_pid "$server_pid"
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

# as_postgres CMD...: PostgreSQL refuses to run as root; run as its user then.
as_postgres() {
	if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The scale-out rounds' S3 credentials: versitygw runs with them as its root
# account; Berth and 'berthbench raws3' read them from the environment.
S3_ACCESS_KEY=berthbench
S3_SECRET_KEY=berthbench-secret-key
S3_BUCKET=berth

# start_scaleout_backends DATA LOGPREFIX: starts a fresh PostgreSQL cluster and
# a fresh versitygw with an empty bucket under DATA; sets pg_url, s3_url,
# s3_endpoint and s3_pid.
start_scaleout_backends() {
	local data=$1 logs=$2 pg_port s3_port
	mkdir -p "$data/pg" "$data/s3"
	if [[ $(id -u) == 0 ]]; then
		# The postgres user must reach its directory through ours (mktemp's 0700).
		chmod o+x "$data_base" "$data"
		chown postgres "$data/pg"
	fi
	as_postgres "$pg_bin/initdb" -D "$data/pg/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
		>"$logs.initdb.log" 2>&1 || { tail -20 "$logs.initdb.log" >&2; die "initdb failed (log: $logs.initdb.log)"; }
	pg_port=$(free_port)
	pg_log=$logs.postgres.log
	# fsync, synchronous_commit and full_page_writes are PostgreSQL's defaults;
	# they are spelt out because the point is that every commit is durable.
	as_postgres "$pg_bin/pg_ctl" -D "$data/pg/data" -l "$data/pg/postgres.log" -w -t 60 \
		-o "-h 127.0.0.1 -p $pg_port -k $data/pg -c fsync=on -c synchronous_commit=on -c full_page_writes=on" \
		start >/dev/null || { tail -20 "$data/pg/postgres.log" >&2; die "PostgreSQL did not start"; }
	pg_data=$data/pg/data
	pg_url="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"

	s3_port=$(free_port)
	s3_endpoint=http://127.0.0.1:$s3_port
	ROOT_ACCESS_KEY=$S3_ACCESS_KEY ROOT_SECRET_KEY=$S3_SECRET_KEY \
		"$tools/versitygw" --port "127.0.0.1:$s3_port" posix "$data/s3" >"$logs.versitygw.log" 2>&1 &
	s3_pid=$!
	wait_ready "$s3_endpoint/" "$logs.versitygw.log" "$s3_pid" any
	# CreateBucket, signed by curl; the header is the SHA-256 of the empty body.
	curl -fsS -o /dev/null -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		"$s3_endpoint/$S3_BUCKET" || die "could not create bucket $S3_BUCKET on versitygw"
	s3_url="s3://$S3_BUCKET?endpoint=$s3_endpoint&region=us-east-1&path-style=true"
}

# stop_scaleout_backends: stops versitygw and PostgreSQL if they run, and
# keeps PostgreSQL's log next to the others.
stop_scaleout_backends() {
	if [[ -n $s3_pid ]]; then
		stop_pid "$s3_pid"
		s3_pid=""
	fi
	if [[ -n $pg_data ]]; then
		as_postgres "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true
		cp "$(dirname "$pg_data")/postgres.log" "$pg_log" 2>/dev/null || true
		pg_data=""
	fi
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
		wait_ready "$url/v2/" "$log" "$server_pid"
		;;
	berth)
		# shellcheck disable=SC2086 # BERTH_SERVE_ARGS is a list of words
		BERTH_ADMIN_PASSWORD=$BENCH_PASSWORD \
			"$root/bin/berth" serve --addr "127.0.0.1:$port" --data-dir "$data" ${BERTH_SERVE_ARGS:-} >"$log" 2>&1 &
		server_pid=$!
		wait_ready "$url/readyz" "$log" "$server_pid"
		;;
	berth-scaleout)
		start_scaleout_backends "$data" "${log%.server.log}"
		# shellcheck disable=SC2086 # BERTH_SERVE_ARGS is a list of words
		# postgres.max_conns 10: what docs/deployment.md asks for ("Sizing").
		AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY BERTH_POSTGRES_MAX_CONNS=10 \
			BERTH_ADMIN_PASSWORD=$BENCH_PASSWORD "$root/bin/berth" serve --addr "127.0.0.1:$port" --data-dir "$data/berth" \
			--metadata "$pg_url" --storage "$s3_url" ${BERTH_SERVE_ARGS:-} >"$log" 2>&1 &
		server_pid=$!
		wait_ready "$url/readyz" "$log" "$server_pid"
		;;
	esac
}

# scenarios_for SERVER: the scenario list for that server; large-blob is for
# the filesystem servers only.
scenarios_for() {
	if [[ $1 != berth-scaleout ]]; then
		echo "$scenarios"
		return
	fi
	local list kept=() s
	IFS=, read -r -a list <<<"$scenarios"
	for s in "${list[@]}"; do
		if [[ $s != large-blob ]]; then kept+=("$s"); fi
	done
	(IFS=,; echo "${kept[*]}")
}

# --- run -------------------------------------------------------------------

quick_flag=()
selfcheck_size=1GiB
if [[ $quick == 1 ]]; then
	quick_flag=(--quick)
	selfcheck_size=256MiB
fi

# wait_quiet WHEN: wait until the 1-minute load average is below $quiet_load
# (the previous round's load decays with a one-minute time constant), at most
# $quiet_wait seconds; then warn if it is still above.
wait_quiet() {
	local l waited=0
	read -r l _ </proc/loadavg
	while awk -v l="$l" -v q="$quiet_load" 'BEGIN { exit !(l >= q) }' && ((waited < quiet_wait)); do
		if ((waited == 0)); then note "waiting for the load average ($l) to fall below $quiet_load before $1"; fi
		sleep 5
		waited=$((waited + 5))
		read -r l _ </proc/loadavg
	done
	if awk -v l="$l" -v q="$quiet_load" 'BEGIN { exit !(l >= q) }'; then
		note "WARNING: load average is $l before $1; other work on this machine will skew the figures"
	fi
}
wait_quiet "starting"
read -r load1 _ </proc/loadavg

note "measuring the load tool itself (berthbench selfcheck --size $selfcheck_size)"
"$bench" selfcheck --size "$selfcheck_size" --json-out "$run_dir/selfcheck.json" >&2

problems=0
# check_rc RC WHAT LOG: act on a berthbench exit status.
check_rc() {
	case $1 in
	0) ;;
	3)
		problems=1
		note "$2: SOME OPERATIONS FAILED (listed below and in the report)"
		;;
	*)
		tail -20 "$3" >&2
		die "berthbench failed (exit $1) in $2; see $3"
		;;
	esac
}

for r in $(seq 1 "$rounds"); do
	for s in "${servers[@]}"; do
		# Write back what earlier rounds left dirty, and let the filesystem
		# finish freeing (and, mounted with discard, discarding) the data they
		# deleted: otherwise the next server's first fsyncs wait for it.
		sync
		wait_quiet "round $r $s"
		data=$(mktemp -d "$data_base/$s-r$r.XXXX")
		log=$run_dir/$s-r$r.server.log
		start_server "$s" "$data" "$(free_port)" "$log"
		note "round $r/$rounds: $s (pid $server_pid, $url, data $data)"
		out=$run_dir/$s-r$r.json
		rc=0
		BERTHBENCH_USERNAME=admin BERTHBENCH_PASSWORD=$BENCH_PASSWORD "$bench" --registry "$url" --scenario "$(scenarios_for "$s")" --server-pid "$server_pid" \
			--label "$s" --round "$r" "${quick_flag[@]}" -o json -v >"$out" 2>"$run_dir/$s-r$r.bench.log" || rc=$?
		stop_server
		check_rc "$rc" "round $r $s" "$run_dir/$s-r$r.bench.log"
		"$bench" show "$out" >&2
		if [[ $s == berth-scaleout ]]; then
			note "round $r/$rounds: raw S3 against the same versitygw (pid $s3_pid, $s3_endpoint)"
			out=$run_dir/raw-s3-r$r.json
			rc=0
			sync
			wait_quiet "round $r raw S3"
			AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY \
				"$bench" raws3 --endpoint "$s3_endpoint" --bucket berthbench-raw --server-pid "$s3_pid" \
				--round "$r" "${quick_flag[@]}" -o json -v >"$out" 2>"$run_dir/raw-s3-r$r.bench.log" || rc=$?
			stop_scaleout_backends
			check_rc "$rc" "round $r raw S3" "$run_dir/raw-s3-r$r.bench.log"
			"$bench" show "$out" >&2
		fi
		if [[ $keep_data == 0 ]]; then rm -rf "$data" "$data.yml"; fi
	done
done

# --- report ------------------------------------------------------------------

fs_type=$(findmnt -no FSTYPE -T "$data_base" 2>/dev/null || stat -f -c %T "$data_base")
fs_source=$(df -P "$data_base" | awk 'NR == 2 { print $1 " mounted on " $6 }')
cmdline="scripts/bench.sh --rounds $rounds --scenarios $scenarios --servers $server_list"
[[ $quick == 1 ]] && cmdline+=" --quick"
report_args=(
	--meta "CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	--meta "cores=$(nproc) (servers and load tool share them; nothing pinned)"
	--meta "RAM=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	--meta "kernel=$(uname -sr)"
	--meta "data directories=$fs_type ($fs_source), under $data_base"
	--meta "Go=$(go version | cut -d' ' -f3-)"
)
if has_server distribution; then
	report_args+=(--meta "Distribution=$("$tools/registry" --version | awk '{ print $NF }')")
fi
report_args+=(--meta "Berth=commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')")
if has_server berth-scaleout; then
	report_args+=(
		--meta "PostgreSQL=$("$pg_bin/postgres" --version | awk '{ print $NF }'), a fresh cluster per round, default settings with fsync, synchronous_commit and full_page_writes on"
		--meta "S3 server=versitygw $VERSITYGW_VERSION, posix backend on the same filesystem, a fresh directory per round"
	)
fi
report_args+=(
	--meta "date=$(date -u +%Y-%m-%dT%H:%MZ)"
	--meta "load average at start=$load1"
	--command "$cmdline"
	--command "# each round, each server, fresh data dir:"
	--command "registry serve config.yml   # Distribution $DIST_VERSION, config as in scripts/bench.sh"
	--command "BERTH_ADMIN_PASSWORD=P bin/berth serve --addr 127.0.0.1:PORT --data-dir DIR ${BERTH_SERVE_ARGS:-}"
	--command "# berth-scaleout: a fresh PostgreSQL cluster (initdb; pg_ctl start -o '-c fsync=on -c synchronous_commit=on ...'),"
	--command "# a fresh versitygw (ROOT_ACCESS_KEY=K ROOT_SECRET_KEY=S versitygw --port 127.0.0.1:S3PORT posix DIR), bucket 'berth':"
	--command "AWS_ACCESS_KEY_ID=K AWS_SECRET_ACCESS_KEY=S BERTH_POSTGRES_MAX_CONNS=10 BERTH_ADMIN_PASSWORD=P bin/berth serve --addr 127.0.0.1:PORT --data-dir DIR \\"
	--command "    --metadata 'postgres://postgres@127.0.0.1:PGPORT/postgres?sslmode=disable' \\"
	--command "    --storage 's3://berth?endpoint=http://127.0.0.1:S3PORT&region=us-east-1&path-style=true' ${BERTH_SERVE_ARGS:-}"
	--command "BERTHBENCH_USERNAME=admin BERTHBENCH_PASSWORD=P bin/berthbench --registry http://127.0.0.1:PORT --scenario LIST --server-pid PID --label SERVER --round N ${quick_flag[*]} -o json"
	--command "# berth-scaleout rounds, once Berth has stopped, against the same versitygw:"
	--command "AWS_ACCESS_KEY_ID=K AWS_SECRET_ACCESS_KEY=S bin/berthbench raws3 --endpoint http://127.0.0.1:S3PORT --bucket berthbench-raw --server-pid S3PID --round N ${quick_flag[*]} -o json"
	--command "bin/berthbench report --require-both --out docs/benchmarks.md results/$stamp/*-r*.json"
	--selfcheck "$run_dir/selfcheck.json"
)
if [[ $scenarios == *large-blob* ]] && has_server berth-scaleout; then
	report_args+=(--note "The opt-in \`large-blob\` scenario ran on Distribution and Berth embedded only, not on Berth scale-out, so Berth scale-out's server-wide CPU and peak RSS leave it out.")
fi

"$bench" report "${report_args[@]}" --out "$run_dir/benchmarks.md" "$run_dir"/*-r*.json
if has_server distribution && has_server berth && [[ $quick == 0 && -z $only ]]; then
	"$bench" report --require-both "${report_args[@]}" --out docs/benchmarks.md "$run_dir"/*-r*.json
	note "wrote docs/benchmarks.md"
else
	note "docs/benchmarks.md left untouched (only a full-size run of both distribution and berth writes there)"
fi
note "report: $run_dir/benchmarks.md"
sed -n '/^## Summary/,/^## Scale-out/p' "$run_dir/benchmarks.md" | sed '$d'
if [[ $problems == 1 ]]; then
	die "some operations failed; see the Errors section of $run_dir/benchmarks.md"
fi
