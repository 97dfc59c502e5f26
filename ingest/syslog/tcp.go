package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/corrd/corrd/ingest"
)

// TCP and TLS: one goroutine per connection reads frames, parses, extracts
// and submits. When the correlator's queue is full it retries with backoff
// and meanwhile reads nothing: the socket buffers fill and TCP flow control
// slows the sender. Nothing is buffered beyond one frame and one batch of
// events per connection.

const (
	// maxConnBatch bounds the events a connection submits at once.
	maxConnBatch = 256
	// handshakeTimeout bounds a TLS handshake (or idle_timeout if shorter).
	handshakeTimeout = 10 * time.Second
	minBackoff       = 10 * time.Millisecond
	maxBackoff       = time.Second
)

func (l *Listener) listenTCP() error {
	ln, err := net.Listen("tcp", l.cfg.Address)
	if err != nil {
		return err
	}
	l.tcp = ln
	return nil
}

func (l *Listener) runTCP(ctx context.Context, sub ingest.Submitter) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		// perSource counts the open connections of each source address.
		perSource = map[string]int{}
	)
	slots := make(chan struct{}, l.cfg.MaxConnections)
	stop := context.AfterFunc(ctx, func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			// Wake a blocked read; the handler closes the connection.
			_ = c.SetReadDeadline(time.Unix(1, 0))
		}
		mu.Unlock()
	})
	defer stop()
	for {
		c, aerr := l.tcp.Accept()
		if aerr != nil {
			if ctx.Err() != nil || errors.Is(aerr, net.ErrClosed) {
				break
			}
			var ne net.Error
			if errors.As(aerr, &ne) && ne.Timeout() {
				continue
			}
			// EMFILE and the like: back off a little and go on.
			l.log.Error().Err(aerr).Msg("accept")
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			l.m.closed[closeTooMany].Inc()
			l.log.Warn().Str("remote", c.RemoteAddr().String()).Int("max_connections", l.cfg.MaxConnections).Msg("too many connections; closed")
			c.Close()
			continue
		}
		src := peerIP(c.RemoteAddr())
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			<-slots
			break
		}
		if perSource[src] >= l.cfg.MaxConnectionsPerSource {
			mu.Unlock()
			l.m.closed[closeTooManySrc].Inc()
			l.log.Warn().Str("remote", c.RemoteAddr().String()).Int("max_connections_per_source", l.cfg.MaxConnectionsPerSource).Msg("too many connections from this source; closed")
			c.Close()
			<-slots
			continue
		}
		perSource[src]++
		conns[c] = struct{}{}
		mu.Unlock()
		l.m.connections.Inc()
		wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(conns, c)
				if perSource[src]--; perSource[src] <= 0 {
					delete(perSource, src)
				}
				mu.Unlock()
				l.m.connections.Dec()
				<-slots
			}()
			reason := l.serveConn(ctx, sub, c)
			l.m.closed[reason].Inc()
		})
	}
	wg.Wait()
	return nil
}

// deadlineReader sets the idle deadline before every read.
type deadlineReader struct {
	c    net.Conn
	idle time.Duration
	ctx  context.Context
}

func (r *deadlineReader) Read(p []byte) (int, error) {
	if r.ctx.Err() != nil {
		return 0, r.ctx.Err()
	}
	if r.idle > 0 {
		if err := r.c.SetReadDeadline(time.Now().Add(r.idle)); err != nil {
			return 0, err
		}
		// Shutdown may have set a past deadline just before; see runTCP.
		if r.ctx.Err() != nil {
			return 0, r.ctx.Err()
		}
	}
	return r.c.Read(p)
}

// serveConn reads one connection until it ends; it returns why.
func (l *Listener) serveConn(ctx context.Context, sub ingest.Submitter, c net.Conn) (reason string) {
	defer c.Close()
	idle := time.Duration(l.cfg.IdleTimeout)
	if l.tlsConf != nil {
		tc := tls.Server(c, l.tlsConf)
		hs := handshakeTimeout
		if idle > 0 && idle < hs {
			hs = idle
		}
		hctx, cancel := context.WithTimeout(ctx, hs)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return closeShutdownTC
			}
			l.log.Warn().Err(err).Str("remote", c.RemoteAddr().String()).Msg("TLS handshake failed")
			return closeTLS
		}
		c = tc
	}
	pr := l.newProcessor()
	fr := newFrameReader(&deadlineReader{c: c, idle: idle, ctx: ctx}, l.cfg.MaxMessageBytes)
	peer := c.RemoteAddr()
	subCtx := context.WithoutCancel(ctx)
	for {
		frame, err := fr.next()
		if err == nil {
			pr.handle(frame, peer, l.now())
			if len(pr.events) < maxConnBatch && fr.buffered() {
				continue
			}
			if !l.submitConn(ctx, subCtx, sub, pr) {
				return closeShutdownTC
			}
			continue
		}
		if errors.Is(err, errFrameTooLarge) {
			pr.c.messages++
			pr.c.dropTooLarge++
			l.log.Warn().Str("remote", peer.String()).Int("max_message_bytes", l.cfg.MaxMessageBytes).Msg("frame too large; skipped")
			continue
		}
		// The stream ended: submit what is in hand, then say why.
		l.submitConn(ctx, subCtx, sub, pr)
		switch {
		case errors.Is(err, io.EOF):
			return closeEOF
		case ctx.Err() != nil:
			return closeShutdownTC
		case errors.Is(err, os.ErrDeadlineExceeded):
			l.log.Info().Str("remote", peer.String()).Str("framing", fr.mode.String()).Msg("connection idle; closed")
			return closeIdle
		case errors.Is(err, errBadFrame):
			l.log.Warn().Err(err).Str("remote", peer.String()).Msg("bad frame; connection closed")
			return closeBadFrame
		case errors.Is(err, io.ErrUnexpectedEOF):
			return closeEOF
		default:
			l.log.Warn().Err(err).Str("remote", peer.String()).Msg("read; connection closed")
			return closeReadError
		}
	}
}

// submitConn submits a connection's events, retrying with backoff while
// the correlator is full (the connection is not read meanwhile). It
// reports false when ctx ended first; the events are then counted as lost.
func (l *Listener) submitConn(ctx, subCtx context.Context, sub ingest.Submitter, pr *processor) bool {
	pr.flushCounts()
	if len(pr.events) == 0 {
		return true
	}
	defer pr.resetEvents()
	backoff := minBackoff
	for {
		err := sub.Submit(subCtx, pr.events)
		if err == nil {
			l.m.accepted(len(pr.events))
			return true
		}
		if !errors.Is(err, ingest.ErrBackpressure) {
			l.submitFailed(err, len(pr.events))
			return true
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			l.m.drop(dropShutdown, len(pr.events))
			return false
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
