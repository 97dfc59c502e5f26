package syslog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
)

// Listener is one configured syslog listener: its sockets, parsers and
// extraction rules. It is an ingest.Source.
type Listener struct {
	name    string
	cfg     Config // defaults applied
	x       *extractor
	popts   parserOptions
	m       *metrics
	log     zerolog.Logger // sampled: bad input comes in floods
	infoLog zerolog.Logger
	now     func() time.Time

	udp     []*net.UDPConn
	inodes  []uint64
	tcp     net.Listener
	tlsConf *tls.Config

	closeOnce sync.Once
	closeErr  error
}

var (
	_ ingest.Source              = (*Listener)(nil)
	_ interface{ Close() error } = (*Listener)(nil)
)

// newListener builds a listener without its sockets.
func newListener(cfg Config, m *ingest.Metrics, reg prometheus.Registerer, log zerolog.Logger) (*Listener, error) {
	if m == nil {
		return nil, errors.New("syslog: nil metrics")
	}
	cfg.SetDefaults()
	if err := cfg.Validate(fmt.Sprintf("syslog %q", cfg.Name)); err != nil {
		return nil, err
	}
	l := &Listener{name: cfg.Name, cfg: cfg, now: time.Now}
	loc := time.Local
	if cfg.Timezone != "" {
		loc, _ = time.LoadLocation(cfg.Timezone) // Validate checked it
	}
	l.popts = parserOptions{format: cfg.Format, loc: loc, cisco: cfg.CiscoIOS, maxBytes: cfg.MaxMessageBytes}
	var err error
	if l.x, err = newExtractor(cfg.Extract); err != nil {
		return nil, fmt.Errorf("syslog %s: %w", cfg.Name, err)
	}
	if l.m, err = newMetrics(reg, cfg.Name, m); err != nil {
		return nil, fmt.Errorf("syslog %s: register metrics: %w", cfg.Name, err)
	}
	l.infoLog = log.With().Str("component", "ingest/syslog").Str("source", cfg.Name).Logger()
	l.log = l.infoLog.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second})
	return l, nil
}

// New builds the listener cfg describes and opens its sockets, so that a
// bad address or certificate fails here. It applies cfg's defaults to its
// own copy and registers its metrics with reg (nil: none). Listeners of
// several names may share reg. Close releases a listener that will not
// Run.
func New(cfg Config, m *ingest.Metrics, reg prometheus.Registerer, log zerolog.Logger) (*Listener, error) {
	l, err := newListener(cfg, m, reg, log)
	if err != nil {
		return nil, err
	}
	switch l.cfg.Protocol {
	case UDP:
		err = l.listenUDP()
	case TLS:
		if l.tlsConf, err = tlsConfig(l.cfg.TLS); err == nil {
			err = l.listenTCP()
		}
	default:
		err = l.listenTCP()
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("syslog %s: %w", l.name, err)
	}
	return l, nil
}

// Name is the listener's configured name.
func (l *Listener) Name() string { return l.name }

// Addr is the address the listener is bound to (the first UDP socket's).
func (l *Listener) Addr() net.Addr {
	if l.tcp != nil {
		return l.tcp.Addr()
	}
	if len(l.udp) > 0 {
		return l.udp[0].LocalAddr()
	}
	return nil
}

// Run serves until ctx is done; then it closes the sockets and returns
// once the messages in hand are submitted.
func (l *Listener) Run(ctx context.Context, sub ingest.Submitter) error {
	l.infoLog.Info().Str("address", l.Addr().String()).Str("protocol", string(l.cfg.Protocol)).Msg("listening")
	if l.cfg.Protocol == UDP {
		return l.runUDP(ctx, sub)
	}
	return l.runTCP(ctx, sub)
}

// Close closes the sockets. Run closes them itself when its context ends.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		for i, c := range l.udp {
			if i < len(l.inodes) {
				l.m.kernel.remove(l.name, l.inodes[i])
			}
			errs = append(errs, c.Close())
		}
		if l.tcp != nil {
			errs = append(errs, l.tcp.Close())
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

func tlsConfig(c *TLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.client_ca_file: no PEM certificate in %s", c.ClientCAFile)
		}
		conf.ClientCAs = pool
	}
	switch c.ClientAuth {
	case ClientAuthRequest:
		conf.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		conf.ClientAuth = tls.NoClientCert
	}
	return conf, nil
}

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

// counts are a processor's metric increments, added to the shared counters
// once per batch rather than per message.
type counts struct {
	messages, bytes, parseErrors, unmatched, dropMalformed, dropUnmatched, dropTooLarge int
	invalidUTF8                                                                         int
}

// processor turns messages into events. Each UDP worker and TCP
// connection has its own; it is not safe for concurrent use.
type processor struct {
	l      *Listener
	p      *parser
	s      scratch
	m      message
	c      counts
	events []ingest.Event
}

func (l *Listener) newProcessor() *processor {
	return &processor{l: l, p: newParser(l.popts)}
}

// handle parses one message and appends its event, if any, to pr.events.
func (pr *processor) handle(raw []byte, peer net.Addr, arrival time.Time) {
	l := pr.l
	pr.c.messages++
	pr.c.bytes += len(raw)
	ok, partial := pr.p.parse(raw, arrival, &pr.m)
	if !ok || partial {
		pr.c.parseErrors++
	}
	if !ok {
		if l.cfg.Malformed == PolicyRaw {
			pr.events = append(pr.events, buildMalformed(l.name, raw, peer, arrival))
		} else {
			pr.c.dropMalformed++
		}
		return
	}
	if cleanUTF8(&pr.m) {
		pr.c.invalidUTF8++
	}
	if pr.m.host == "" {
		// As rsyslog's fromhost: devices that send no hostname (Cisco
		// IOS by default) are named by their address.
		pr.m.host = peerIP(peer)
	}
	r := l.x.match(&pr.m, &pr.s)
	if r == nil {
		pr.c.unmatched++
		if l.cfg.Unmatched == PolicyRaw {
			pr.events = append(pr.events, build(l.name, &pr.m, nil, &pr.s, raw, arrival))
		} else {
			pr.c.dropUnmatched++
		}
		return
	}
	pr.events = append(pr.events, build(l.name, &pr.m, r, &pr.s, raw, arrival))
}

// flushCounts adds the counts to the metrics.
func (pr *processor) flushCounts() {
	c, m := &pr.c, pr.l.m
	if c.messages > 0 {
		m.messages.Add(float64(c.messages))
		m.bytes.Add(float64(c.bytes))
	}
	if c.parseErrors > 0 {
		m.parseErrors.Add(float64(c.parseErrors))
	}
	if c.unmatched > 0 {
		m.unmatched.Add(float64(c.unmatched))
	}
	if c.invalidUTF8 > 0 {
		m.invalidUTF8.Add(float64(c.invalidUTF8))
	}
	m.drop(dropMalformed, c.dropMalformed)
	m.drop(dropUnmatched, c.dropUnmatched)
	m.drop(dropTooLarge, c.dropTooLarge)
	*c = counts{}
}

// accepted counts n events the correlator took.
func (m *metrics) accepted(n int) {
	m.emitted.Add(float64(n))
	m.received.Add(float64(n))
}

// resetEvents empties pr.events, dropping its references.
func (pr *processor) resetEvents() {
	clear(pr.events)
	pr.events = pr.events[:0]
	if cap(pr.events) > 4096 {
		pr.events = nil
	}
}

// submitFailed counts and logs events the correlator did not take.
func (l *Listener) submitFailed(err error, n int) {
	switch {
	case errors.Is(err, ingest.ErrBackpressure):
		l.m.drop(dropBackpressure, n)
		l.log.Warn().Int("events", n).Msg("correlator queue full; events dropped")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		l.m.drop(dropShutdown, n)
	default:
		l.m.drop(dropSubmitError, n)
		l.log.Error().Err(err).Int("events", n).Msg("submit events")
	}
}
