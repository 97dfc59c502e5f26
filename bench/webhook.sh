#!/usr/bin/env bash
# Side-by-side webhook ingest benchmark: alerts/s that corrd accepts on
# POST /api/v1/ingest/alertmanager (Alertmanager webhook messages, version
# "4") against alerts/s that Alertmanager accepts on its own
# POST /api/v2/alerts, with the same alerts, ALERTS per request, driven by
# wrk on this machine. The systems never run at the same time: each round
# starts corrd, measures it, stops it, then does the same for Alertmanager.
#
#   bash bench/webhook.sh
#
# Environment (defaults in brackets):
#   DURATION      measured wrk run per system and round [10s]
#   WARMUP        unmeasured wrk run before each measured one [2s]; 0 disables
#   CONNS         wrk connections [16]
#   ROUNDS        rounds; the figures are the medians over rounds [3]
#   ALERTS        alerts per request [100]
#   STORES        distinct store label values [500]
#   DEVICES       distinct device label values, i.e. distinct alerts [50000]
#   QUIET_WAIT    seconds to wait, before each measured run, for other
#                 processes on the machine to go quiet [30]; 0 disables
#   RETRIES       times a measured run that other processes disturbed is
#                 run again [2]
#   AM_BIN        Alertmanager binary [prometheus-alertmanager]
#
# wrk runs with one thread: on a 2-core machine the load generator and the
# server share the cores. CPU used by other processes during a measured run
# is reported as *_other_cpu_seconds; a run in which they used more than a
# tenth of a CPU is disturbed: it is run again (RETRIES), and the medians
# are over the undisturbed rounds when there are any.
# The results end with "name value" lines (corrd_alerts_per_second 123456).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-16}
ROUNDS=${ROUNDS:-3}
ALERTS=${ALERTS:-100}
STORES=${STORES:-500}
DEVICES=${DEVICES:-50000}
QUIET_WAIT=${QUIET_WAIT:-30}
RETRIES=${RETRIES:-2}
AM_BIN=${AM_BIN:-prometheus-alertmanager}

# wrk takes "10s"; accept a bare number of seconds too.
[[ $DURATION =~ ^[0-9]+$ ]] && DURATION=${DURATION}s
[[ $WARMUP =~ ^[0-9]+$ ]] && WARMUP=${WARMUP}s

for cmd in go wrk curl jq "$AM_BIN"; do
	command -v "$cmd" >/dev/null || { echo "webhook.sh: $cmd not found (apt-get install -y prometheus-alertmanager wrk jq curl)" >&2; exit 1; }
done
if (( DEVICES % STORES != 0 )); then
	echo "webhook.sh: DEVICES ($DEVICES) must be a multiple of STORES ($STORES)" >&2
	exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/corrd-bench.XXXXXX")
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*" >&2; }
die() { echo "webhook.sh: $*" >&2; exit 1; }

HZ=$(getconf CLK_TCK)

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local port
	for _ in $(seq 100); do
		port=$(( 20000 + RANDOM % 40000 ))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	die "no free port found"
}

# cpu_seconds PID prints the user+system CPU time the process has used.
cpu_seconds() {
	awk -v hz="$HZ" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}

# busy_seconds prints the CPU time all processes of the machine have used
# (user, nice, system, irq, softirq, steal), over all CPUs.
busy_seconds() {
	awk -v hz="$HZ" '$1 == "cpu" { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}

# wait_quiet waits up to QUIET_WAIT seconds for a second in which the
# machine's processes, the idle server included, use under 0.2 CPU.
wait_quiet() {
	local deadline=$(( SECONDS + QUIET_WAIT )) a b said=
	while (( SECONDS < deadline )); do
		a=$(busy_seconds); sleep 1; b=$(busy_seconds)
		awk -v a="$a" -v b="$b" 'BEGIN { exit !(b - a < 0.2) }' && return
		[[ -n $said ]] || { log "waiting up to ${QUIET_WAIT}s for other processes to go quiet"; said=1; }
	done
	(( QUIET_WAIT == 0 )) || log "machine still busy, measuring anyway"
}

# stop PID stops a server started here and waits for it.
stop() {
	local keep=() p
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	for p in "${PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# run_wrk NAME SCRIPT URL PID OUT: warm-up run, then the measured run,
# again while other processes disturb it and RETRIES last; writes "name
# value" lines (wrk_*, CPU use) to OUT.
run_wrk() {
	local name=$1 script=$2 url=$3 pid=$4 out=$5
	local args=(-t1 -c"$CONNS" --timeout 10s -s "$script" "$url" -- "$ALERTS" "$STORES" "$DEVICES")
	if [[ $WARMUP != 0s ]]; then
		log "$name: warm-up $WARMUP"
		wrk -d"$WARMUP" "${args[@]}" >"$out.warmup"
	fi
	local try
	for try in $(seq 0 "$RETRIES"); do
		measure "$name" "$pid" "$out" "${args[@]}"
		awk '{ v[$1] = $2 } END {
			exit !(v["busy_cpu_seconds"] - v["server_cpu_seconds"] - v["wrk_cpu_seconds"] > 0.1 * v["wrk_duration_seconds"])
		}' "$out" || return 0
		if (( try < RETRIES )); then
			log "$name: other processes used the CPU during the run; again"
		fi
	done
}

# measure NAME PID OUT WRK-ARGS...: one measured run.
measure() {
	local name=$1 pid=$2 out=$3
	shift 3
	local args=("$@")
	wait_quiet
	log "$name: measuring $DURATION with $CONNS connections, $ALERTS alerts per request"
	local cpu0 cpu1 busy0 busy1
	cpu0=$(cpu_seconds "$pid"); busy0=$(busy_seconds)
	# bash's time keyword reports wrk's own CPU use.
	{ TIMEFORMAT='%U %S'; time wrk -d"$DURATION" "${args[@]}" >"$out.wrk"; } 2>"$out.time"
	cpu1=$(cpu_seconds "$pid"); busy1=$(busy_seconds)
	grep -v '^wrk_' "$out.wrk" | sed 's/^/   /' >&2
	{
		grep '^wrk_' "$out.wrk"
		awk '{ printf "wrk_cpu_seconds %.2f\n", $1 + $2 }' "$out.time"
		echo "server_cpu_seconds $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')"
		echo "busy_cpu_seconds $(awk -v a="$busy0" -v b="$busy1" 'BEGIN { printf "%.2f", b - a }')"
	} >"$out"
}

# metric FILE NAME LABEL-SUBSTRING: sum of the samples of NAME whose labels
# contain the substring.
metric() {
	awk -v n="$2" -v l="$3" '$1 ~ "^"n"({|$)" && index($1, l) { s += $2 } END { printf "%.0f\n", s }' "$1"
}

# summarize NAME FILE: the figures of one measured run, "NAME_key value".
summarize() {
	awk -v name="$1" -v alerts="$ALERTS" '
		{ v[$1] = $2 }
		END {
			ok = v["wrk_requests"] - v["wrk_non_2xx"]
			d = v["wrk_duration_seconds"]
			other = v["busy_cpu_seconds"] - v["server_cpu_seconds"] - v["wrk_cpu_seconds"]
			if (other < 0) other = 0
			printf "%s_alerts_per_second %.0f\n", name, ok * alerts / d
			printf "%s_requests %d\n", name, v["wrk_requests"]
			printf "%s_non_2xx %d\n", name, v["wrk_non_2xx"]
			printf "%s_socket_errors %d\n", name, v["wrk_socket_errors"]
			printf "%s_latency_p50_ms %s\n", name, v["wrk_latency_p50_ms"]
			printf "%s_latency_p99_ms %s\n", name, v["wrk_latency_p99_ms"]
			printf "%s_cpu_seconds %s\n", name, v["server_cpu_seconds"]
			if (v["server_cpu_seconds"] > 0)
				printf "%s_alerts_per_cpu_second %.0f\n", name, ok * alerts / v["server_cpu_seconds"]
			printf "%s_wrk_cpu_seconds %s\n", name, v["wrk_cpu_seconds"]
			printf "%s_other_cpu_seconds %.2f\n", name, other
			# Other processes took more than a tenth of a CPU: flag the run.
			printf "%s_disturbed %d\n", name, (other > 0.1 * d)
		}' "$2"
}

# ---------------------------------------------------------------- corrd
log "building corrd"
(cd "$ROOT" && go build -o "$TMP/corrd" ./cmd/corrd)

cat >"$TMP/corrd.yml" <<EOF
web:
  listen_address: 127.0.0.1:0
ingest:
  alertmanager: {}
correlator: {}
rule_files:
  - $BENCH_DIR/rules.yml
outputs:
  sinks:
    - name: discard
      type: jsonl
      jsonl:
        path: /dev/null
EOF

# bench_corrd ROUND: one measured corrd run, results in $TMP/corrd.ROUND.
bench_corrd() {
	local r=$1 f=$TMP/corrd.$1 pid addr=
	log "round $r: starting corrd"
	"$TMP/corrd" --config.file="$TMP/corrd.yml" --web.listen-address=127.0.0.1:0 \
		--log.format=json --storage.path="$TMP/corrd-data.$r" 2>"$f.log" &
	pid=$!
	PIDS+=("$pid")
	for _ in $(seq 100); do
		addr=$(sed -n '/"message":"corrd started"/{s/.*"address":"\([^"]*\)".*/\1/p;q}' "$f.log")
		[[ -n $addr ]] && break
		kill -0 "$pid" 2>/dev/null || { cat "$f.log" >&2; die "corrd exited"; }
		sleep 0.1
	done
	[[ -n $addr ]] || { cat "$f.log" >&2; die "corrd did not start"; }
	log "corrd listening on $addr"

	run_wrk corrd "$BENCH_DIR/corrd.lua" "http://$addr/api/v1/ingest/alertmanager" "$pid" "$f.raw"

	# Let the correlator drain its queue, then check what it made of it.
	for _ in $(seq 100); do
		curl -fsS "http://$addr/metrics" >"$f.metrics"
		grep -q '^corrd_correlator_queue_depth 0$' "$f.metrics" && break
		sleep 0.1
	done
	curl -fsS "http://$addr/api/v1/incidents" >"$f.incidents"
	stop "$pid"
	{
		summarize corrd "$f.raw"
		echo "corrd_status_503 $(metric "$f.metrics" corrd_ingest_alertmanager_requests_total 'code="503"')"
		echo "corrd_events_received $(metric "$f.metrics" corrd_ingest_events_received_total '')"
		echo "corrd_events_deduplicated $(metric "$f.metrics" corrd_correlator_events_deduplicated_total '')"
		echo "corrd_queue_depth_after $(metric "$f.metrics" corrd_correlator_queue_depth '')"
		echo "corrd_incidents $(jq '.incidents | length' "$f.incidents")"
		echo "corrd_incident_events $(jq '[.incidents[].event_count] | add // 0' "$f.incidents")"
		echo "corrd_incident_devices $(jq '[.incidents[].breadth.device // 0] | add // 0' "$f.incidents")"
		echo "corrd_rss_bytes $(metric "$f.metrics" process_resident_memory_bytes '')"
	} >"$f"
}

# --------------------------------------------------------- Alertmanager
# No webhook: the receiver has no integrations, so Alertmanager validates,
# stores, merges and groups the alerts (group_by chain, store, like
# bench/rules.yml) but sends nothing; notification does not weigh on the
# figure.
cat >"$TMP/am.yml" <<EOF
route:
  receiver: blackhole
  group_by: [chain, store]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: blackhole
EOF
AM_VERSION=$("$AM_BIN" --version 2>&1 | head -1)

# bench_am ROUND: one measured Alertmanager run, results in
# $TMP/alertmanager.ROUND.
bench_am() {
	local r=$1 f=$TMP/alertmanager.$1 pid port
	port=$(free_port)
	log "round $r: starting $AM_VERSION"
	"$AM_BIN" --config.file="$TMP/am.yml" --web.listen-address="127.0.0.1:$port" \
		--cluster.listen-address= --storage.path="$TMP/am-data.$r" --log.level=warn 2>"$f.log" &
	pid=$!
	PIDS+=("$pid")
	for _ in $(seq 100); do
		curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
		kill -0 "$pid" 2>/dev/null || { cat "$f.log" >&2; die "Alertmanager exited"; }
		sleep 0.1
	done
	curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null || { cat "$f.log" >&2; die "Alertmanager did not start"; }
	log "Alertmanager listening on 127.0.0.1:$port"

	run_wrk alertmanager "$BENCH_DIR/alertmanager.lua" "http://127.0.0.1:$port/api/v2/alerts" "$pid" "$f.raw"

	curl -fsS "http://127.0.0.1:$port/metrics" >"$f.metrics"
	curl -fsS "http://127.0.0.1:$port/api/v2/alerts?active=true" >"$f.alerts"
	stop "$pid"
	{
		summarize alertmanager "$f.raw"
		echo "alertmanager_alerts_received $(metric "$f.metrics" alertmanager_alerts_received_total '')"
		echo "alertmanager_alerts_invalid $(metric "$f.metrics" alertmanager_alerts_invalid_total '')"
		echo "alertmanager_active_alerts $(jq length "$f.alerts")"
		echo "alertmanager_rss_bytes $(metric "$f.metrics" process_resident_memory_bytes '')"
	} >"$f"
}

for r in $(seq "$ROUNDS"); do
	bench_corrd "$r"
	bench_am "$r"
done

# -------------------------------------------------------------- results
# median KEY FILES...: the median of KEY over the files (the lower middle
# value for an even count).
median() {
	local k=$1; shift
	awk -v k="$k" '$1 == k { print $2 }' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# rounds NAME: the result files of NAME's undisturbed rounds, or of all
# its rounds if every one was disturbed.
rounds() {
	local f good=()
	for f in "$TMP/$1".[0-9]*; do
		[[ $f =~ \.[0-9]+$ ]] || continue
		(( $(awk -v k="$1_disturbed" '$1 == k { print $2 }' "$f") )) || good+=("$f")
	done
	if (( ${#good[@]} == 0 )); then
		for f in "$TMP/$1".[0-9]*; do
			[[ $f =~ \.[0-9]+$ ]] && good+=("$f")
		done
	fi
	printf '%s\n' "${good[@]}"
}

{
	# One round: its figures. Several: the median of each figure, so the
	# alerts/s and the CPU seconds may come from different rounds.
	for s in corrd alertmanager; do
		mapfile -t files < <(rounds "$s")
		echo "${s}_rounds_used ${#files[@]}"
		awk '{ print $1 }' "$TMP/$s.1" | while read -r k; do
			echo "$k $(median "$k" "${files[@]}")"
		done
	done
} | grep -v '_disturbed ' >"$TMP/result"
for s in corrd alertmanager; do
	echo "${s}_disturbed_rounds $(for r in $(seq "$ROUNDS"); do cat "$TMP/$s.$r"; done | awk '$1 ~ /_disturbed$/ { n += $2 } END { print n + 0 }')"
done >>"$TMP/result"
awk '{ v[$1] = $2 } END {
	if (v["alertmanager_alerts_per_second"] > 0)
		printf "ratio_corrd_to_alertmanager %.2f\n", v["corrd_alerts_per_second"] / v["alertmanager_alerts_per_second"]
	if (v["alertmanager_alerts_per_cpu_second"] > 0)
		printf "ratio_per_cpu_second %.2f\n", v["corrd_alerts_per_cpu_second"] / v["alertmanager_alerts_per_cpu_second"]
}' "$TMP/result" >>"$TMP/result"

# val KEY [FILE]: the value of KEY in the results.
val() { awk -v k="$1" '$1 == k { print $2; exit }' "${2:-$TMP/result}"; }

echo
if (( ROUNDS > 1 )); then
	printf '%-5s %-13s %12s %8s %8s %10s %8s %10s\n' round system alerts/s non-2xx "p99 ms" "server cpu" "wrk cpu" "other cpu"
	for r in $(seq "$ROUNDS"); do
		for s in corrd alertmanager; do
			f=$TMP/$s.$r
			printf '%-5s %-13s %12s %8s %8s %9ss %7ss %9ss%s\n' "$r" "$s" "$(val "${s}_alerts_per_second" "$f")" \
				"$(val "${s}_non_2xx" "$f")" "$(val "${s}_latency_p99_ms" "$f")" "$(val "${s}_cpu_seconds" "$f")" \
				"$(val "${s}_wrk_cpu_seconds" "$f")" "$(val "${s}_other_cpu_seconds" "$f")" \
				"$( (( $(val "${s}_disturbed" "$f") )) && echo '  (disturbed)')"
		done
	done
	echo "medians over rounds used (undisturbed ones when there are any; corrd: $(val corrd_rounds_used), Alertmanager: $(val alertmanager_rounds_used)):"
fi
printf '%-19s %12s %8s %8s %10s %8s %10s\n' system alerts/s non-2xx "p99 ms" "server cpu" "wrk cpu" "other cpu"
for s in corrd alertmanager; do
	printf '%-19s %12s %8s %8s %9ss %7ss %9ss\n' "$s" "$(val "${s}_alerts_per_second")" "$(val "${s}_non_2xx")" \
		"$(val "${s}_latency_p99_ms")" "$(val "${s}_cpu_seconds")" "$(val "${s}_wrk_cpu_seconds")" "$(val "${s}_other_cpu_seconds")"
done
echo "corrd 503 answers (backpressure) over its whole run, warm-up included: $(val corrd_status_503)"
echo "corrd incidents: $(val corrd_incidents); Alertmanager active alerts: $(val alertmanager_active_alerts)"
echo "ratio corrd/alertmanager: $(val ratio_corrd_to_alertmanager)x (per server CPU second: $(val ratio_per_cpu_second)x)"
echo "(DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS ROUNDS=$ROUNDS ALERTS=$ALERTS STORES=$STORES DEVICES=$DEVICES;"
echo " wrk -t1; $(nproc) CPUs shared by wrk and the server; $AM_VERSION)"
if (( $(val corrd_disturbed_rounds) + $(val alertmanager_disturbed_rounds) > 0 )); then
	echo "WARNING: other processes used more than 0.1 CPU during some measured runs (see *_other_cpu_seconds);"
	echo "         figures are over the undisturbed rounds when there are any"
fi
echo
cat "$TMP/result"
