// Command corrd is the monitoring-to-incident event correlation daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// defaultGCPercent trades heap headroom for throughput: at 200 the webhook
// path takes about 15% more alerts/s than at Go's 100 (bench/
// BenchmarkWebhookInProcess), for a heap of a few hundred MB at most. The
// GOGC environment variable overrides it.
const defaultGCPercent = 200

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second signal during shutdown kills the process.
	context.AfterFunc(ctx, stop)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := cli(ctx, hup, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
