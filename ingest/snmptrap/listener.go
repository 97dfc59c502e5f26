package snmptrap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/net/ipv4"

	"github.com/corrd/corrd/ingest"
)

// Listener receives SNMP traps and INFORMs on one UDP socket. New opens
// the socket; Run reads it until its context ends.
type Listener struct {
	name      string
	conn      *net.UDPConn
	allow     []netip.Prefix
	dec       *decoder
	m         *metrics
	log       zerolog.Logger
	sampled   zerolog.Logger // for refused packets: a flood logs a few
	readers   int
	workers   int
	queueSize int
	closeOnce sync.Once
}

var _ ingest.Source = (*Listener)(nil)

// New loads the MIBs and trap definitions of cfg and opens its socket.
// Relative paths in cfg are used as they are (cmd resolves them).
func New(cfg Config, im *ingest.Metrics, reg prometheus.Registerer, log zerolog.Logger) (*Listener, error) {
	if err := cfg.Validate(""); err != nil {
		return nil, err
	}
	log = log.With().Str("component", "snmptrap").Str("source", cfg.Name).Logger()
	mib, warns, err := LoadMIB(cfg.MIBDirs)
	if err != nil {
		return nil, fmt.Errorf("snmptrap %s: %w", cfg.Name, err)
	}
	for _, w := range warns {
		log.Debug().Err(w).Msg("MIB skipped")
	}
	defs, err := LoadTrapFiles(cfg.TrapFiles)
	if err != nil {
		return nil, fmt.Errorf("snmptrap %s: trap files: %w", cfg.Name, err)
	}
	traps, err := compileTraps(defs, mib)
	if err != nil {
		return nil, fmt.Errorf("snmptrap %s: %w", cfg.Name, err)
	}
	return newListener(cfg, mib, traps, im, reg, log)
}

func newListener(cfg Config, mib *MIB, traps *trapTable, im *ingest.Metrics, reg prometheus.Registerer, log zerolog.Logger) (*Listener, error) {
	m, err := newMetrics(reg, cfg.Name, im)
	if err != nil {
		return nil, err
	}
	dec, err := newDecoder(&cfg, mib, traps, time.Now())
	if err != nil {
		return nil, err
	}
	l := &Listener{name: cfg.Name, dec: dec, m: m, log: log,
		sampled: log.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Minute}),
		readers: cfg.Readers, workers: cfg.Workers, queueSize: cfg.QueueSize}
	for _, s := range cfg.AllowSources {
		p, _ := parsePrefix(s)
		l.allow = append(l.allow, p)
	}
	if l.readers <= 0 {
		l.readers = 1
	}
	if l.workers <= 0 {
		l.workers = runtime.GOMAXPROCS(0)
	}
	if l.queueSize <= 0 {
		l.queueSize = DefaultQueueSize
	}
	addr := cfg.Address
	if addr == "" {
		addr = DefaultAddress
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("snmptrap %s: %w", cfg.Name, err)
	}
	if l.conn, err = net.ListenUDP("udp", ua); err != nil {
		return nil, fmt.Errorf("snmptrap %s: %w", cfg.Name, err)
	}
	rb := cfg.ReceiveBufferBytes
	if rb == 0 {
		rb = DefaultRecvBufBytes
	}
	_ = l.conn.SetReadBuffer(rb)
	return l, nil
}

// Name returns the listener's configured name.
func (l *Listener) Name() string { return l.name }

// Addr returns the bound address.
func (l *Listener) Addr() net.Addr { return l.conn.LocalAddr() }

// EngineID returns the listener's SNMP engine ID.
func (l *Listener) EngineID() []byte { return l.dec.engine.id }

// Close closes the socket; a running Run returns.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() { err = l.conn.Close() })
	return err
}

// job is one datagram handed from a reader to a worker.
type job struct {
	buf *[]byte // from bufPool
	src netip.AddrPort
}

const batchSize = 32

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// Run reads the socket until ctx ends, decoding on a pool of workers and
// submitting events in batches. It closes the socket on return.
func (l *Listener) Run(ctx context.Context, sub ingest.Submitter) error {
	l.log.Info().Str("address", l.conn.LocalAddr().String()).
		Str("engine_id", fmt.Sprintf("%x", l.dec.engine.id)).Msg("listening")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job, l.queueSize)
	var wg, rwg sync.WaitGroup
	for range l.workers {
		wg.Add(1)
		go func() { defer wg.Done(); l.work(ctx, jobs, sub) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); l.watchKernelDrops(ctx) }()
	errc := make(chan error, l.readers)
	for range l.readers {
		rwg.Add(1)
		go func() { defer rwg.Done(); errc <- l.read(jobs) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	l.Close()
	rwg.Wait()
	close(jobs)
	cancel()
	wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("snmptrap %s: read: %w", l.name, err)
	}
	return nil
}

// read reads batches of datagrams and queues copies of them.
func (l *Listener) read(jobs chan<- job) error {
	pc := ipv4.NewPacketConn(l.conn)
	msgs := make([]ipv4.Message, batchSize)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, maxDatagram)}
	}
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return err
		}
		for i := range msgs[:n] {
			msg := &msgs[i]
			l.m.packets.Inc()
			ua, _ := msg.Addr.(*net.UDPAddr)
			if ua == nil {
				continue
			}
			src := ua.AddrPort()
			if !l.allowed(src.Addr()) {
				l.refuse(reasonSource, src)
				continue
			}
			bp := bufPool.Get().(*[]byte)
			*bp = append((*bp)[:0], msg.Buffers[0][:msg.N]...)
			// With every worker busy and the queue full, wait: the
			// socket's receive buffer holds what arrives meanwhile, and
			// what overflows it is dropped by the kernel at no CPU cost
			// (and counted from /proc/net/udp).
			jobs <- job{buf: bp, src: src}
		}
	}
}

// refuse counts a refused packet and logs it, sampled.
func (l *Listener) refuse(reason string, src netip.AddrPort) {
	l.m.reject(reason)
	l.sampled.Warn().Str("reason", reason).Stringer("from", src).Msg("packet refused")
}

func (l *Listener) allowed(a netip.Addr) bool {
	if len(l.allow) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range l.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// pendingReply is an INFORM acknowledgement sent once its event is
// accepted, so that an INFORM refused for backpressure is resent.
type pendingReply struct {
	b   []byte
	dst netip.AddrPort
}

func (l *Listener) work(ctx context.Context, jobs <-chan job, sub ingest.Submitter) {
	events := make([]ingest.Event, 0, batchSize)
	var replies []pendingReply
	flush := func() {
		if len(events) == 0 {
			return
		}
		submit := sub.Submit
		if ds, ok := sub.(ingest.DurableSubmitter); ok && len(replies) > 0 {
			// An INFORM is acknowledged only once it is stored: the
			// sender resends it until then.
			submit = ds.SubmitStored
		}
		err := submit(ctx, events)
		switch {
		case err == nil:
			l.m.received.Add(float64(len(events)))
			for _, r := range replies {
				if _, werr := l.conn.WriteToUDPAddrPort(r.b, r.dst); werr == nil {
					l.m.informsAcked.Inc()
				}
			}
		case errors.Is(err, ingest.ErrBackpressure):
			l.m.rejected[reasonBackpressure].Add(float64(len(events)))
			l.m.drops[reasonBackpressure].Add(float64(len(events)))
		default:
			l.m.rejected[reasonSubmit].Add(float64(len(events)))
			l.m.drops[reasonSubmit].Add(float64(len(events)))
		}
		clear(events)
		events = events[:0]
		replies = replies[:0]
	}
	for {
		var j job
		var ok bool
		select {
		case j, ok = <-jobs:
		default:
			// Nothing queued: submit what is batched before waiting.
			flush()
			j, ok = <-jobs
		}
		if !ok {
			flush()
			return
		}
		// The event keeps no reference to the buffer (Raw is a copy).
		res := l.dec.decode(*j.buf, j.src, time.Now())
		bufPool.Put(j.buf)
		if res.reply != nil && !res.inform {
			_, _ = l.conn.WriteToUDPAddrPort(res.reply, j.src)
			if res.discov {
				l.m.discoveries.Inc()
			}
		}
		if res.discov {
			continue
		}
		if !res.ok {
			l.refuse(res.reason, j.src)
			continue
		}
		l.m.traps[res.version].Inc()
		if res.unknown {
			l.m.unknownTraps.Inc()
		}
		events = append(events, res.ev)
		if res.inform {
			replies = append(replies, pendingReply{b: res.reply, dst: j.src})
		}
		if len(events) == cap(events) {
			flush()
		}
	}
}
