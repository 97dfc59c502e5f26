package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/correlator/store"
	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/outputs"
	"github.com/corrd/corrd/rules"
)

// daemonOptions come from the command line.
type daemonOptions struct {
	src source
	// listenAddress overrides web.listen_address when set.
	listenAddress string
	// storagePath is the data directory holding the state store; it is
	// created at start.
	storagePath string
	// shutdownTimeout bounds the HTTP server's shutdown, flushTimeout the
	// flush of queued deliveries.
	shutdownTimeout time.Duration
	flushTimeout    time.Duration
}

// daemon owns every long-running part of corrd and the goroutines that run
// them.
type daemon struct {
	opts     daemonOptions
	log      zerolog.Logger
	cfg      *Config
	engine   *correlator.Engine
	disp     dispatcher
	reloader *reloader
	srv      *http.Server
	ln       net.Listener
	sources  []ingest.Source
	store    *store.Store
	ready    atomic.Bool
	// stopping is set when shutdown begins: components returning after it
	// are not failures.
	stopping atomic.Bool
	// started is closed once every component runs.
	started chan struct{}
}

// loader returns the daemon's load path: the configuration and its rules,
// with the command line's overrides applied.
func (o daemonOptions) loader() loadFunc {
	return func() (*Config, *rules.Set, error) {
		cfg, set, err := load(o.src)
		if err != nil {
			return nil, nil, err
		}
		if o.listenAddress != "" {
			cfg.Web.ListenAddress = o.listenAddress
		}
		return cfg, set, nil
	}
}

// newDaemon loads the configuration, builds every component and opens the
// listener. Nothing runs until run.
func newDaemon(opts daemonOptions, log zerolog.Logger) (*daemon, error) {
	load := opts.loader()
	cfg, set, err := load()
	if err != nil {
		return nil, err
	}
	// The state store is opened first: a corrupted or foreign file in the
	// data directory stops the start with a clear error and is left alone.
	var st *store.Store
	if opts.storagePath != "" {
		if st, err = store.Open(opts.storagePath); err != nil {
			return nil, err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	d := &daemon{opts: opts, log: log, cfg: cfg, started: make(chan struct{}), store: st}
	if st != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "corrd_store_size_bytes",
			Help: "Size of the state store file (corrd.db).",
		}, func() float64 { return float64(st.Size()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "corrd_store_backups_refused_total",
			Help: "Backups refused (429) because another backup was running.",
		}, func() float64 { return float64(st.BackupsRefused()) }))
	}
	var outStore outputs.Store
	if st != nil {
		outStore = st
	}
	d.disp, err = newDispatcher(cfg.Outputs, reg, log, outStore)
	if err != nil {
		d.closeStore()
		return nil, fmt.Errorf("outputs: %w", err)
	}
	// From here on, an error must close the dispatcher.
	engOpts := cfg.Correlator
	if opts.storagePath != "" {
		engOpts.DedupPath = filepath.Join(opts.storagePath, "dedup")
	}
	d.engine = correlator.New(engOpts, set, d.disp, reg, log)
	if st != nil {
		// Incidents, timers and the outbox come back first; then the
		// outputs learn where to report deliveries, get their dead letters
		// back and resume what the previous run left undelivered, in order.
		err := d.engine.Restore(st)
		if err == nil {
			d.disp.SetOutbox(d.engine)
			err = d.disp.LoadDeadLetters()
		}
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), opts.flushTimeout)
			defer cancel()
			err = errors.Join(fmt.Errorf("restore state: %w", err), d.disp.Close(ctx))
			d.closeStore()
			return nil, err
		}
		pending := d.engine.PendingChanges()
		for _, p := range pending {
			d.disp.Resume(p.Change, p.Done)
		}
		if len(pending) > 0 {
			log.Info().Int("changes", len(pending)).Msg("resuming delivery of changes the previous run left undelivered")
		}
	}
	d.reloader = newReloader(cfg, load, d.engine.SetRules, reg, component(log, "reload"))
	if err := d.listen(reg); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), opts.flushTimeout)
		defer cancel()
		d.closeStore()
		return nil, errors.Join(err, d.disp.Close(ctx))
	}
	return d, nil
}

// backup is the state store's hot backup, nil without a store.
func (d *daemon) backup() func(io.Writer) (int64, error) {
	if d.store == nil {
		return nil
	}
	return d.store.Backup
}

// closeStore closes the state store, if one is open.
func (d *daemon) closeStore() {
	if d.store == nil {
		return
	}
	if err := d.store.Close(); err != nil {
		d.log.Error().Err(err).Msg("close state store")
	}
}

func (d *daemon) listen(reg *prometheus.Registry) error {
	var receivers []receiver
	im := ingest.NewMetrics(reg)
	if am := d.cfg.Ingest.Alertmanager; am != nil {
		r, err := newAlertmanagerReceiver(*am, d.engine, im, reg, d.log)
		if err != nil {
			return fmt.Errorf("ingest.alertmanager: %w", err)
		}
		receivers = append(receivers, r)
	}
	webLog := component(d.log, "web")
	h, err := newWebHandler(webDeps{
		incidents: d.engine,
		receivers: receivers,
		gatherer:  reg,
		ready:     d.readiness,
		reload:    d.reloader.Reload,
		log:       webLog,
		dead:      d.disp,
		backup:    d.backup(),
	})
	if err != nil {
		return err
	}
	d.ln, err = net.Listen("tcp", d.cfg.Web.ListenAddress)
	if err != nil {
		return err
	}
	d.sources, err = buildSources(&d.cfg.Ingest, im, reg, d.log)
	if err != nil {
		d.ln.Close()
		return err
	}
	timeout := time.Duration(d.cfg.Web.ReadTimeout)
	d.srv = &http.Server{
		Handler:           h,
		ReadTimeout:       timeout,
		ReadHeaderTimeout: timeout,
		ErrorLog:          stdlog.New(webLog, "", 0),
	}
	for _, r := range receivers {
		webLog.Info().Str("path", r.path).Msg("webhook receiver mounted")
	}
	return nil
}

// errNotRunning is the readiness answer before the engine and the
// outputs run, and once shutdown has begun.
var errNotRunning = errors.New("not running")

// readiness reports why the daemon cannot take work, nil when it can.
func (d *daemon) readiness() error {
	if !d.ready.Load() {
		return errNotRunning
	}
	// 503 while the store refuses writes, with the last commit error;
	// ready again after the next commit succeeds.
	return d.engine.StoreError()
}

// addr is the address the HTTP server listens on.
func (d *daemon) addr() net.Addr { return d.ln.Addr() }

// component derives the logger of a part of cmd/corrd. The packages it
// wires (correlator, outputs, ingest/...) name themselves: they get the
// root logger.
func component(log zerolog.Logger, name string) zerolog.Logger {
	return log.With().Str("component", name).Logger()
}

// run runs the daemon until ctx ends or a component fails, and reloads on
// every value from hup. Shutdown stops accepting events first (HTTP), lets
// the engine drain its queue, then flushes the outputs. It returns once
// every goroutine it started has returned.
func (d *daemon) run(ctx context.Context, hup <-chan os.Signal) error {
	var wg sync.WaitGroup
	// Each goroutine sends at most one error.
	fatal := make(chan error, 3)

	// The engine and the outputs are stopped in order below, not by ctx:
	// the outputs by Close, which flushes, and only then by their context.
	dispCtx, stopDisp := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDisp()
	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()

	wg.Go(func() {
		err := d.disp.Run(dispCtx)
		if !d.stopping.Load() {
			fatal <- fmt.Errorf("outputs stopped: %w", orStopped(err))
		}
	})
	engineDone := make(chan struct{})
	wg.Go(func() {
		defer close(engineDone)
		err := d.engine.Run(engCtx)
		if !d.stopping.Load() {
			fatal <- fmt.Errorf("correlator stopped: %w", orStopped(err))
		}
	})
	d.ready.Store(true)

	wg.Go(func() {
		if err := d.srv.Serve(d.ln); !errors.Is(err, http.ErrServerClosed) {
			fatal <- fmt.Errorf("web server: %w", err)
		}
	})
	// Listener sources stop with the web server, before the engine drains.
	srcCtx, stopSources := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSources()
	var srcWG sync.WaitGroup
	for _, src := range d.sources {
		srcWG.Go(func() {
			if err := src.Run(srcCtx, d.engine); err != nil && !d.stopping.Load() {
				select {
				case fatal <- fmt.Errorf("source %s: %w", src.Name(), err):
				default:
				}
			}
		})
	}
	hupCtx, stopHup := context.WithCancel(ctx)
	defer stopHup()
	wg.Go(func() {
		for {
			select {
			case <-hupCtx.Done():
				return
			case <-hup:
				_ = d.reloader.Reload() // logged and exported by Reload
			}
		}
	})
	d.log.Info().Str("address", d.addr().String()).Str("config", d.opts.src.String()).Msg("corrd started")
	close(d.started)

	var err error
	select {
	case <-ctx.Done():
		d.log.Info().Msg("shutting down")
	case err = <-fatal:
		d.log.Error().Err(err).Msg("shutting down")
	}
	d.stopping.Store(true)
	d.ready.Store(false)
	stopHup()

	sctx, cancel := context.WithTimeout(context.Background(), d.opts.shutdownTimeout)
	if serr := d.srv.Shutdown(sctx); serr != nil {
		d.log.Warn().Err(serr).Msg("web server shutdown timed out; closing connections")
		_ = d.srv.Close()
	}
	cancel()

	stopSources()
	srcWG.Wait()

	stopEngine()
	<-engineDone

	fctx, cancel := context.WithTimeout(context.Background(), d.opts.flushTimeout)
	if ferr := d.disp.Close(fctx); ferr != nil {
		d.log.Error().Err(ferr).Msg("flush outputs")
	}
	cancel()
	stopDisp()

	wg.Wait()
	if cerr := d.engine.CommitDone(); cerr != nil {
		d.log.Warn().Err(cerr).Msg("delivery reports not stored; those changes are delivered again after the next start")
	}
	d.closeStore()
	d.log.Info().Msg("corrd stopped")
	return err
}

var errStopped = errors.New("stopped unexpectedly")

func orStopped(err error) error {
	if err == nil {
		return errStopped
	}
	return err
}
