package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version string

const (
	shutdownTimeout = 10 * time.Second
	flushTimeout    = 30 * time.Second
)

const usageText = `Usage:
  corrd [flags]               run the daemon
  corrd check-config [FILE]   check a configuration file and its rule files
                              (default: the built-in configuration)
  corrd version               print version information

Without --config.file, corrd runs on its built-in configuration (the files of
examples/ embedded in the binary), listening on 127.0.0.1:9480.

Flags:
`

// cli runs the command line and returns the exit code.
func cli(ctx context.Context, hup <-chan os.Signal, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "check-config":
			return checkConfig(args[1:], stdout, stderr)
		case "version":
			return printVersion(args[1:], stdout, stderr)
		case "help":
			fs, _ := daemonFlags(stdout)
			fs.Usage()
			return 0
		}
	}
	return runDaemon(ctx, hup, args, stderr)
}

type daemonArgs struct {
	configFile    string
	listenAddress string
	storagePath   string
	logLevel      logLevel
	logFormat     logFormat
}

func daemonFlags(out io.Writer) (*flag.FlagSet, *daemonArgs) {
	a := &daemonArgs{logLevel: logLevel(zerolog.InfoLevel), logFormat: "json"}
	fs := flag.NewFlagSet("corrd", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&a.configFile, "config.file", "", "Configuration file. Default: the built-in configuration.")
	fs.StringVar(&a.listenAddress, "web.listen-address", "", "Address for the API, metrics and webhooks; overrides web.listen_address (default "+defaultListenAddress+").")
	fs.StringVar(&a.storagePath, "storage.path", "./data", "Data directory of the state store (corrd.db); created at start.")
	fs.Var(&a.logLevel, "log.level", "Log level: debug, info, warn or error.")
	fs.Var(&a.logFormat, "log.format", "Log format: json or console.")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	return fs, a
}

func runDaemon(ctx context.Context, hup <-chan os.Signal, args []string, stderr io.Writer) int {
	fs, a := daemonFlags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "corrd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	log := newLogger(stderr, a.logLevel, a.logFormat)
	d, err := newDaemon(daemonOptions{
		src:             sourceFor(a.configFile),
		listenAddress:   a.listenAddress,
		storagePath:     a.storagePath,
		shutdownTimeout: shutdownTimeout,
		flushTimeout:    flushTimeout,
	}, log)
	if err != nil {
		for _, e := range flattenErrors(err) {
			log.Error().Err(e).Msg("start")
		}
		return 1
	}
	if err := d.run(ctx, hup); err != nil {
		return 1
	}
	return 0
}

// checkConfig loads a configuration and its rules exactly as the daemon
// does and prints every problem, one per line.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: corrd check-config [FILE]\n\nChecks FILE (default: the built-in configuration) and its rule files.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	src := sourceFor(fs.Arg(0))
	if _, _, err := load(src); err != nil {
		for _, e := range flattenErrors(err) {
			fmt.Fprintln(stderr, e)
		}
		fmt.Fprintf(stderr, "FAILED: %s\n", src)
		return 1
	}
	fmt.Fprintf(stdout, "SUCCESS: %s and its rule files are valid\n", src)
	return 0
}

func printVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "Usage: corrd version")
		return 2
	}
	v, rev := version, "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					rev += "-modified"
				}
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	fmt.Fprintf(stdout, "corrd, version %s (revision %s)\n  go version: %s\n  platform:   %s/%s\n",
		v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}

// logLevel is the --log.level flag.
type logLevel zerolog.Level

func (l *logLevel) String() string { return zerolog.Level(*l).String() }

func (l *logLevel) Set(s string) error {
	switch s {
	case "debug", "info", "warn", "error":
		lvl, err := zerolog.ParseLevel(s)
		*l = logLevel(lvl)
		return err
	}
	return fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
}

// logFormat is the --log.format flag.
type logFormat string

func (f *logFormat) String() string { return string(*f) }

func (f *logFormat) Set(s string) error {
	if s != "json" && s != "console" {
		return fmt.Errorf("unknown log format %q (want json or console)", s)
	}
	*f = logFormat(s)
	return nil
}

// newLogger builds the root logger.
func newLogger(w io.Writer, level logLevel, format logFormat) zerolog.Logger {
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !isTerminal(w)}
	}
	return zerolog.New(w).Level(zerolog.Level(level)).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
