#!/usr/bin/env bash
# Side-by-side syslog UDP ingest benchmark: the rate at which corrd takes
# syslog messages over UDP on loopback, parses them, extracts events and
# correlates them (examples/retail/rules.yml), against the rate at which
# rsyslog (imudp, two threads) takes the same stream into a file. The load
# generator is bench/cmd/syslogload, on the same machine.
#
#   bash bench/syslog.sh
#
# For each system and each offered rate it sends for DURATION, waits for
# the receiver to finish, and counts what arrived: for corrd the events
# the correlator accepted (corrd_ingest_syslog_events_emitted_total; with
# CHATTER 0 every message is a register line the extraction rule takes)
# plus the chatter lines extraction dropped by design, for rsyslog the
# lines in its output file. Drops are what was sent and did not
# arrive: kernel drops (/proc/net/udp) plus corrd's own
# (corrd_ingest_syslog_dropped_total). Both receivers are started first
# and stay idle but for the run at hand; corrd's and rsyslog's runs
# alternate, so that both meet the same background load.
#
# Environment (defaults in brackets):
#   RATES         offered rates, messages/s [50000 100000 150000 200000 250000 300000 400000]
#   DURATION      seconds each rate is sent [5]
#   ROUNDS        runs per rate; the figures are medians over them [3]
#   SOCKETS       sending sockets of the load generator [4]
#   FORMAT        rfc3164 or rfc5424 [rfc3164]
#   CHATTER       share of lines no rule takes [0]
#   STORES        distinct store hosts [1000]
#   QUIET_WAIT    seconds to wait before each run for other processes on
#                 the machine to go quiet [20]; 0 disables
#
# The results end with "name value" lines:
#   <system>_max_zero_drop_rate   highest offered rate with no drop
#   <system>_saturation_rate      most messages/s delivered at any rate
#   ratio_zero_drop, ratio_saturation   corrd / rsyslog
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

RATES=${RATES:-50000 100000 150000 200000 250000 300000 400000}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
SOCKETS=${SOCKETS:-4}
FORMAT=${FORMAT:-rfc3164}
CHATTER=${CHATTER:-0}
STORES=${STORES:-1000}
QUIET_WAIT=${QUIET_WAIT:-20}

for cmd in go curl rsyslogd awk; do
	command -v "$cmd" >/dev/null || { echo "syslog.sh: $cmd not found (apt-get install -y rsyslog curl)" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/corrd-syslog-bench.XXXXXX")
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
die() { echo "syslog.sh: $*" >&2; exit 1; }

# free_port prints a port on 127.0.0.1 nothing listens on (TCP and UDP).
free_port() {
	local port
	for _ in $(seq 100); do
		port=$(( 20000 + RANDOM % 40000 ))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && ! udp_bound "$port"; then
			echo "$port"
			return
		fi
	done
	die "no free port found"
}

# udp_bound PORT: whether a UDP socket is bound to PORT.
udp_bound() {
	awk -v p="$(printf ':%04X' "$1")" 'NR > 1 && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' /proc/net/udp
}

# udp_drops PORT: kernel drops of the UDP sockets bound to PORT.
udp_drops() {
	awk -v p="$(printf ':%04X' "$1")" 'NR > 1 && substr($2, length($2) - 4) == p { s += $NF } END { printf "%d\n", s }' /proc/net/udp
}

stop() {
	local keep=() p
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

HZ=$(getconf CLK_TCK)

# busy_seconds: CPU time all processes of the machine have used.
busy_seconds() {
	awk -v hz="$HZ" '$1 == "cpu" { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}

# wait_quiet waits up to QUIET_WAIT seconds for a second in which the
# machine's processes (the idle receiver included) use under 0.3 CPU: the
# load generator and the receiver share the machine's cores, and other
# work on it skews the figures.
wait_quiet() {
	local deadline=$(( SECONDS + QUIET_WAIT )) a b
	while (( SECONDS < deadline )); do
		a=$(busy_seconds); sleep 1; b=$(busy_seconds)
		awk -v a="$a" -v b="$b" 'BEGIN { exit !(b - a < 0.3) }' && return
	done
	(( QUIET_WAIT == 0 )) || log "machine still busy, measuring anyway"
}

# load PORT RATE: send at RATE for DURATION; prints the number sent.
load() {
	wait_quiet
	"$TMP/syslogload" -addr "127.0.0.1:$1" -rate "$2" -duration "${DURATION}s" -sockets "$SOCKETS" \
		-format "$FORMAT" -chatter "$CHATTER" -stores "$STORES" | awk '$1 == "syslogload_sent" { print $2 }'
}

# settle CMD: run CMD (printing a count) until it has not changed for
# 1.5 s (rsyslog flushes its file every second).
settle() {
	local a b same=0
	a=$("$@")
	for _ in $(seq 100); do
		sleep 0.5
		b=$("$@")
		if [[ $a == "$b" ]]; then
			same=$(( same + 1 ))
			(( same >= 3 )) && break
		else
			same=0
		fi
		a=$b
	done
	echo "$a"
}

log "building corrd and syslogload"
(cd "$ROOT" && go build -o "$TMP/corrd" ./cmd/corrd && go build -o "$TMP/syslogload" ./bench/cmd/syslogload)

RESULTS=$TMP/results
: >"$RESULTS"

# record SYSTEM RATE SENT DELIVERED DROPS
record() {
	local rate=$(( $4 / DURATION ))
	printf '%-8s offered %7d/s  sent %9d  delivered %9d (%7d/s)  drops %8d\n' "$1" "$2" "$3" "$4" "$rate" "$5" >&2
	echo "$1 $2 $3 $4 $5" >>"$RESULTS"
}

# ---------------------------------------------------------------- corrd
WEB=$(free_port)
PORT=$(free_port)
cat >"$TMP/corrd.yml" <<EOF
web: {listen_address: 127.0.0.1:$WEB}
ingest:
  alertmanager: null
  syslog:
    - name: bench
      protocol: udp
      address: 127.0.0.1:$PORT
      timezone: UTC
      extract:
        - match: {app: pos, severity: "<=err", host: '(?P<chain>[a-z]+)-(?P<store>\d+)-pos'}
          regex: 'terminal (?P<register>\d+) offline'
          labels: {alertname: RegisterOffline, chain: '{{ .Groups.chain }}', store: '{{ .Groups.store }}', register: '{{ .Groups.register }}'}
          severity: critical
          fingerprint: [alertname, chain, store, register]
rule_files: [$ROOT/examples/retail/rules.yml]
outputs:
  sinks: [{name: out, type: jsonl, jsonl: {path: /dev/null}}]
  routes: [{sinks: [out]}]
EOF
"$TMP/corrd" --config.file="$TMP/corrd.yml" --storage.path="$TMP/data" --log.format=json >"$TMP/corrd.log" 2>&1 &
PIDS+=($!)
CORRD=$!
for _ in $(seq 100); do
	grep -q '"listening"' "$TMP/corrd.log" 2>/dev/null && break
	sleep 0.1
done
grep -q '"listening"' "$TMP/corrd.log" || die "corrd did not start: $(cat "$TMP/corrd.log")"

# corrd_metric NAME LABELS [EXCLUDE]: the sum of the samples of NAME whose
# labels contain LABELS and not EXCLUDE.
corrd_metric() {
	curl -fsS "http://127.0.0.1:$WEB/metrics" | awk -v n="$1" -v l="$2" -v x="${3:-}" '
		$1 ~ "^"n"({|$)" && index($1, l) && (x == "" || !index($1, x)) { s += $2 }
		END { printf "%.0f\n", s }'
}
# Delivered: the events the correlator took, and the chatter lines that
# extraction dropped as it should. Dropped: the rest of corrd's drops.
corrd_emitted() {
	echo $(( $(corrd_metric corrd_ingest_syslog_events_emitted_total 'source="bench"') +
		$(corrd_metric corrd_ingest_syslog_dropped_total 'reason="unmatched",source="bench"') ))
}
corrd_dropped() { corrd_metric corrd_ingest_syslog_dropped_total 'source="bench"' 'reason="unmatched"'; }

CPORT=$PORT

# ---------------------------------------------------------------- rsyslog
PORT=$(free_port)
mkdir -p "$TMP/rs"
cat >"$TMP/rsyslog.conf" <<EOF
global(workDirectory="$TMP/rs" maxMessageSize="8k")
module(load="imudp" threads="2" batchSize="128")
input(type="imudp" address="127.0.0.1" port="$PORT" rcvbufSize="8m")
main_queue(queue.type="LinkedList" queue.size="100000")
action(type="omfile" file="$TMP/rs/out.log" template="RSYSLOG_FileFormat"
       ioBufferSize="256k" asyncWriting="on" flushOnTXEnd="off" flushInterval="1")
EOF
rsyslogd -n -f "$TMP/rsyslog.conf" -i "$TMP/rs/pid" >"$TMP/rsyslog.log" 2>&1 &
PIDS+=($!)
RSYSLOG=$!
for _ in $(seq 100); do
	udp_bound "$PORT" && break
	sleep 0.1
done
udp_bound "$PORT" || die "rsyslog did not start: $(cat "$TMP/rsyslog.log")"
RPORT=$PORT
rs_lines() { if [[ -f $TMP/rs/out.log ]]; then wc -l <"$TMP/rs/out.log"; else echo 0; fi; }

# ---------------------------------------------------------------- runs
# Both receivers are up (idle between runs); the runs alternate, so that
# both meet the same background load on the machine.
for rate in $RATES; do
	for _ in $(seq "$ROUNDS"); do
		e0=$(corrd_emitted); d0=$(corrd_dropped); k0=$(udp_drops "$CPORT")
		sent=$(load "$CPORT" "$rate")
		e1=$(settle corrd_emitted); d1=$(corrd_dropped); k1=$(udp_drops "$CPORT")
		record corrd "$rate" "$sent" $(( e1 - e0 )) $(( d1 - d0 + k1 - k0 ))

		l0=$(rs_lines); k0=$(udp_drops "$RPORT")
		sent=$(load "$RPORT" "$rate")
		l1=$(settle rs_lines); k1=$(udp_drops "$RPORT")
		record rsyslog "$rate" "$sent" $(( l1 - l0 )) $(( k1 - k0 ))
	done
done
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.1f\n", ($12 + $13) / hz }' "/proc/$1/stat"; }
echo "corrd_cpu_seconds $(cpu "$CORRD")" >>"$TMP/extra"
echo "rsyslog_cpu_seconds $(cpu "$RSYSLOG")" >>"$TMP/extra"
stop "$CORRD"
stop "$RSYSLOG"

# ---------------------------------------------------------------- summary
# Per system and rate, the median run over the rounds (by delivered
# count) and its share lost; then the highest rate whose median loss is 0 and
# the highest median delivered rate.
sort -k1,1 -k2,2n -k4,4n "$RESULTS" | awk -v d="$DURATION" -v rounds="$ROUNDS" '
	function flush() {
		if (n == 0) return
		m = int((n + 1) / 2)
		got = g[m]
		loss = l[m]   # of the median run (rounds sorted by delivered)
		printf "%s_rate_%d_delivered_per_second %.0f\n", sys, rate, got / d
		printf "%s_rate_%d_loss %.4f\n", sys, rate, loss
		if (loss == 0 && rate > zero[sys]) zero[sys] = rate
		if (got / d > sat[sys]) sat[sys] = got / d
		seen[sys] = 1
		n = 0; split("", g); split("", l)
	}
	{
		if ($1 != sys || $2 != rate) { flush(); sys = $1; rate = $2 }
		n++; g[n] = $4; l[n] = ($3 > $4 ? ($3 - $4) / $3 : 0)
	}
	END {
		flush()
		for (s in seen) {
			printf "%s_max_zero_drop_rate %d\n", s, zero[s]
			printf "%s_saturation_rate %.0f\n", s, sat[s]
		}
		if (zero["rsyslog"] > 0) printf "ratio_zero_drop %.2f\n", zero["corrd"] / zero["rsyslog"]
		if (sat["rsyslog"] > 0) printf "ratio_saturation %.2f\n", sat["corrd"] / sat["rsyslog"]
	}' | sort
cat "$TMP/extra"
