// Command corrd is the monitoring-to-incident event correlation daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second signal during shutdown kills the process.
	context.AfterFunc(ctx, stop)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := cli(ctx, hup, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
