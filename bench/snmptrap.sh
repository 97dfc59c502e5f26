#!/usr/bin/env bash
# Side-by-side SNMP trap ingest benchmark: traps/s that corrd accepts
# end-to-end (decoded, translated, correlated) against traps/s that
# Debian's snmptrapd logs to a file, for the same pre-encoded stream of
# linkDown traps sent by bench/cmd/traploadgen. For each mode (v2c, v3
# authPriv) it measures, for each system in turn (never both at once):
#
#   - the highest rate of RATES delivered with zero drops in STEP seconds
#     (drops = sent - accepted: the kernel's and the receiver's together);
#   - the accepted rate at saturation (the generator as fast as it can,
#     DURATION seconds).
#
#   bash bench/snmptrap.sh
#
# Environment (defaults in brackets):
#   MODES      modes to run ["v2c v3authpriv"]
#   RATES      offered rates tried for the zero-drop figure, ascending
#              ["1000 2000 5000 10000 20000 30000 40000 50000 60000 70000 80000
#              100000 150000"]
#   STEP       seconds per zero-drop step [3]
#   DURATION   seconds of the saturation run [5]
#   CORRD_BIN  a corrd binary to measure instead of building ./cmd/corrd
#   QUIET_WAIT seconds to wait, before each measured run, for other
#              processes on the machine to go quiet [30]; 0 disables
#
# The generator and the receiver share the machine's cores. CPU used by
# other processes during a saturation run is reported as *_other_cpu_seconds.
#
# Results end with "name value" lines (corrd_v2c_saturation_per_second ...),
# and the ratios corrd/snmptrapd.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
MODES=${MODES:-"v2c v3authpriv"}
RATES=${RATES:-"1000 2000 5000 10000 20000 30000 40000 50000 60000 70000 80000 100000 150000"}
STEP=${STEP:-3}
DURATION=${DURATION:-5}
QUIET_WAIT=${QUIET_WAIT:-30}

for cmd in go snmptrapd curl awk; do
	command -v "$cmd" >/dev/null || { echo "snmptrap.sh: $cmd not found (apt-get install -y snmptrapd curl)" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/corrd-trapbench.XXXXXX")
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '== %s\n' "$*" >&2; }
die() { echo "snmptrap.sh: $*" >&2; exit 1; }
export MIBS= SNMP_PERSISTENT_DIR=$TMP/snmp
mkdir -p "$SNMP_PERSISTENT_DIR"

stop() {
	local keep=() p
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

free_port() {
	local port
	for _ in $(seq 100); do
		port=$(( 20000 + RANDOM % 40000 ))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && ! grep -qi ":$(printf %04X "$port") " /proc/net/udp; then
			echo "$port"; return
		fi
	done
	die "no free port found"
}

HZ=$(getconf CLK_TCK)
# busy_seconds: CPU time all processes have used, over all CPUs.
busy_seconds() {
	awk -v hz="$HZ" '$1 == "cpu" { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}
# cpu_seconds PID: user+system CPU time of a process.
cpu_seconds() {
	awk -v hz="$HZ" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}
# wait_quiet: wait up to QUIET_WAIT s for a second with under 0.2 CPU used.
wait_quiet() {
	local deadline=$(( SECONDS + QUIET_WAIT )) a b
	while (( SECONDS < deadline )); do
		a=$(busy_seconds); sleep 1; b=$(busy_seconds)
		awk -v a="$a" -v b="$b" 'BEGIN { exit !(b - a < 0.2) }' && return
	done
	(( QUIET_WAIT == 0 )) || log "machine still busy, measuring anyway"
}

log "building traploadgen${CORRD_BIN:+ (corrd: $CORRD_BIN)}"
(cd "$ROOT" && go build -o "$TMP/traploadgen" ./bench/cmd/traploadgen)
if [[ -n ${CORRD_BIN:-} ]]; then
	cp "$CORRD_BIN" "$TMP/corrd"
else
	log "building corrd"
	(cd "$ROOT" && go build -o "$TMP/corrd" ./cmd/corrd)
fi

ENGINE=8000000001aabbcc
loadgen_args() {
	case $1 in
	v2c) echo "-version 2c -community public" ;;
	v3authpriv) echo "-version 3 -user alice -auth SHA-256 -auth-pass authpass123 -priv AES -priv-pass privpass123 -engine-id $ENGINE" ;;
	*) die "unknown mode $1" ;;
	esac
}

# ---- counters: accepted traps so far
CORRD_WEB=
corrd_count() {
	curl -sf "http://$CORRD_WEB/metrics" | awk '$1 ~ /^corrd_ingest_snmptrap_traps_total\{/ { s += $2 } END { printf "%.0f\n", s }'
}
TRAPD_LOG=
trapd_count() { grep -c '^TRAP' "$TRAPD_LOG" || true; }

# settle COUNTER: wait until the counter stops moving; print it.
settle() {
	local a b
	a=$($1)
	while :; do
		sleep 0.5; b=$($1)
		[[ $a == "$b" ]] && { echo "$b"; return; }
		a=$b
	done
}

# offer COUNTER ADDR MODE RATE SECONDS: prints "sent accepted seconds
# other_cpu_seconds" (CPU used by processes other than the receiver
# RECEIVER_PID and the generator while it ran).
RECEIVER_PID=
offer() {
	local before sent secs after busy0 busy1 rcpu0 rcpu1 gcpu
	before=$(settle "$1")
	wait_quiet
	busy0=$(busy_seconds); rcpu0=$(cpu_seconds "$RECEIVER_PID")
	read -r sent secs gcpu < <( { TIMEFORMAT='%U %S'; time "$TMP/traploadgen" -addr "$2" $(loadgen_args "$3") -rate "$4" -duration "${5}s"; } 2>&1 |
		awk '$1 == "sent" { s = $2 } $1 == "seconds" { d = $2 } NF == 2 && $1 ~ /^[0-9.]+$/ { c = $1 + $2 } END { print s, d, c }')
	busy1=$(busy_seconds); rcpu1=$(cpu_seconds "$RECEIVER_PID")
	after=$(settle "$1")
	echo "$sent $(( after - before )) $secs $(awk -v b0="$busy0" -v b1="$busy1" -v r0="$rcpu0" -v r1="$rcpu1" -v g="$gcpu" 'BEGIN { o = b1 - b0 - (r1 - r0) - g; if (o < 0) o = 0; printf "%.2f", o }')"
}

# measure NAME COUNTER ADDR MODE: zero-drop and saturation figures.
measure() {
	local name=$1 counter=$2 addr=$3 mode=$4 best=0 r sent acc secs other
	for r in $RATES; do
		read -r sent acc secs other < <(offer "$counter" "$addr" "$mode" "$r" "$STEP")
		log "$name $mode: offered $r/s: sent $sent, accepted $acc (other processes: ${other} CPU s)"
		if (( acc >= sent )); then best=$r; else break; fi
	done
	echo "${name}_${mode}_zero_drop_per_second $best"
	read -r sent acc secs other < <(offer "$counter" "$addr" "$mode" 0 "$DURATION")
	log "$name $mode: saturation: sent $sent in ${secs}s, accepted $acc"
	awk -v n="${name}_${mode}" -v s="$sent" -v a="$acc" -v d="$secs" -v o="$other" 'BEGIN {
		printf "%s_saturation_offered_per_second %.0f\n", n, s / d
		printf "%s_saturation_per_second %.0f\n", n, a / d
		printf "%s_saturation_dropped_fraction %.3f\n", n, (s - a) / s
		printf "%s_saturation_other_cpu_seconds %.2f\n", n, o }'
}

RESULTS=$TMP/results
: >"$RESULTS"
for mode in $MODES; do
	# ---------------------------------------------------------- corrd
	port=$(free_port); web=$(free_port)
	cat >"$TMP/traps.yaml" <<EOF
traps:
  - {name: linkDown, oid: 1.3.6.1.6.3.1.1.5.3, severity: major, alert: LinkDown, fingerprint: [device, ifIndex]}
EOF
	cat >"$TMP/rules.yml" <<EOF
rules:
  - name: port-down
    match: ['alertname="LinkDown"']
    group_by: [device, ifIndex]
    category: network
    impact: low
    urgency: normal
EOF
	cat >"$TMP/corrd.yml" <<EOF
web: {listen_address: 127.0.0.1:$web}
ingest:
  snmptrap:
    - name: bench
      address: 127.0.0.1:$port
      communities: [public]
      users:
        - {name: alice, auth_protocol: SHA-256, auth_passphrase: authpass123, priv_protocol: AES, priv_passphrase: privpass123}
      trap_files: [$TMP/traps.yaml]
rule_files: [$TMP/rules.yml]
outputs:
  sinks:
    - {name: discard, type: jsonl, jsonl: {path: /dev/null}}
  routes:
    - sinks: [discard]
EOF
	log "$mode: starting corrd"
	"$TMP/corrd" --config.file="$TMP/corrd.yml" --storage.path="$TMP/data" --log.format=json >"$TMP/corrd.log" 2>&1 &
	pid=$!; PIDS+=("$pid"); RECEIVER_PID=$pid
	CORRD_WEB=127.0.0.1:$web
	for _ in $(seq 100); do curl -sf "http://$CORRD_WEB/metrics" >/dev/null && break; sleep 0.1; done
	measure corrd corrd_count "127.0.0.1:$port" "$mode" | tee -a "$RESULTS"
	curl -sf "http://$CORRD_WEB/metrics" | grep -E '^corrd_ingest_snmptrap_(drops|auth_failures|decode_errors)_total' | awk '$2 > 0' | sed 's/^/   /' >&2 || true
	stop "$pid"
	grep -q '"level":"error"' "$TMP/corrd.log" && { sed 's/^/   /' "$TMP/corrd.log" >&2; die "corrd logged errors"; }

	# ------------------------------------------------------ snmptrapd
	port=$(free_port)
	TRAPD_LOG=$TMP/snmptrapd.$mode.log
	cat >"$TMP/snmptrapd.conf" <<EOF
authCommunity log public
createUser -e 0x$ENGINE alice SHA-256 authpass123 AES privpass123
authUser log alice
doNotRetainNotificationLogs yes
EOF
	log "$mode: starting snmptrapd"
	snmptrapd -f -C -c "$TMP/snmptrapd.conf" -n -Lf "$TRAPD_LOG" -F 'TRAP %B %v\n' "udp:127.0.0.1:$port" &
	pid=$!; PIDS+=("$pid"); RECEIVER_PID=$pid
	for _ in $(seq 100); do grep -qi ":$(printf %04X "$port") " /proc/net/udp && break; sleep 0.1; done
	measure snmptrapd trapd_count "127.0.0.1:$port" "$mode" | tee -a "$RESULTS"
	stop "$pid"
done

# corrd / snmptrapd for each figure both have.
awk '{ v[$1] = $2 } END {
	for (k in v) {
		if (k !~ /^corrd_/ || k ~ /fraction|offered|other/) continue
		o = "snmptrapd_" substr(k, 7)
		if ((o in v) && v[o] > 0) printf "ratio_%s %.1f\n", substr(k, 7), v[k] / v[o]
	}
}' "$RESULTS"
