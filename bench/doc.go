// Package bench holds corrd's load tests and their in-process harnesses; it
// has no code of its own. See README.md.
//
// Webhook ingest against Alertmanager: webhook.sh, its wrk scripts
// corrd.lua and alertmanager.lua (lib.lua is their shared part), the rules
// corrd runs with (rules.yml), and in inprocess_test.go the receiver and
// the engine wired as cmd/corrd wires them, for CPU profiles:
//
//	go test ./bench -run XXX -bench WebhookInProcess -cpuprofile cpu.out
//	CORRD_BENCH_WRK=10s go test ./bench -run LoopbackWrk -v -cpuprofile cpu.out
package bench
