#!/usr/bin/env bash
# Runs every Go fuzz target in the repository, one after the other, for
# FUZZTIME each (default 10m), and prints one line per target: package,
# target, executions, new corpus entries and the result. Not part of CI's
# run: fuzzing is open-ended. A failing input is written by `go test` under
# the package's testdata/fuzz/<Target>/ and the script exits 1.
#
#   FUZZTIME=10m FUZZPAR=1 bash bench/fuzz.sh            # every target
#   FUZZTIME=30s bash bench/fuzz.sh ./ingest/syslog/     # one package
#
# FUZZPAR is the number of fuzzing workers per target (default: all cores).
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-10m}
par=${FUZZPAR:-$(nproc)}
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
failed=0
printf '%-28s %-20s %12s %8s %s\n' package target execs new result
for pkg in $(go list "${pkgs[@]}"); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    out="$log/${pkg//\//_}.$target"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel "$par" "$pkg" >"$out" 2>&1
    rc=$?
    # The last progress line carries the totals: "fuzz: elapsed: 10m0s, execs: N (R/sec), new interesting: K (total: T)".
    last=$(grep -E '^fuzz: elapsed: .*execs: ' "$out" | tail -n 1)
    execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
    new=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
    if [ $rc -eq 0 ]; then result=ok; else result=FAIL; failed=1; fi
    printf '%-28s %-20s %12s %8s %s\n' "${pkg#github.com/corrd/corrd/}" "$target" "${execs:-?}" "${new:-?}" "$result"
    if [ $rc -ne 0 ]; then sed 's/^/    /' "$out" | tail -n 30; fi
  done
done
exit $failed
