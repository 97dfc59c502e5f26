package syslog

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/corrd/corrd/ingest"
)

// UDP: Readers sockets bound to one port with SO_REUSEPORT (the kernel
// spreads senders over them), each read by its own goroutine in batches
// (recvmmsg). A reader copies a batch into a pooled, compact buffer and
// queues it for the workers, which parse, extract and submit. Workers never
// wait for the correlator: when it is full they drop the events and count
// them, so a slow correlator never holds up the socket reads.

const (
	// readBatch is the number of datagrams one recvmmsg may return.
	readBatch = 64
	// queueBatches bounds the batches waiting for a worker.
	queueBatches = 256
)

// udpBatch is a batch of datagrams, packed.
type udpBatch struct {
	data    []byte
	ends    []int
	peers   []net.Addr
	arrival time.Time
}

var batchPool = sync.Pool{New: func() any { return &udpBatch{} }}

func (b *udpBatch) reset() {
	b.data = b.data[:0]
	b.ends = b.ends[:0]
	clear(b.peers)
	b.peers = b.peers[:0]
}

func (l *Listener) listenUDP() error {
	n := l.cfg.Readers
	if n == 0 {
		n = gomaxprocs()
	}
	if !reusePortSupported {
		n = 1
	}
	addr := l.cfg.Address
	for i := 0; i < n; i++ {
		lc := net.ListenConfig{Control: udpControl(n > 1, l.cfg.ReceiveBufferBytes)}
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			return err
		}
		c := pc.(*net.UDPConn)
		l.udp = append(l.udp, c)
		if i == 0 {
			// The others bind the port the first one got (for ":0").
			a := c.LocalAddr().(*net.UDPAddr)
			host, _, _ := net.SplitHostPort(addr)
			addr = net.JoinHostPort(host, strconv.Itoa(a.Port))
			if rb, err := receiveBuffer(c); err == nil && rb < l.cfg.ReceiveBufferBytes {
				l.infoLog.Warn().Int("asked", l.cfg.ReceiveBufferBytes).Int("got", rb).
					Msg("UDP receive buffer smaller than configured; raise net.core.rmem_max or run with CAP_NET_ADMIN")
			}
		}
		if ino, err := socketInode(c); err == nil {
			l.inodes = append(l.inodes, ino)
			l.m.kernel.add(l.name, ino)
		}
	}
	return nil
}

func (l *Listener) runUDP(ctx context.Context, sub ingest.Submitter) error {
	nw := l.cfg.Workers
	if nw == 0 {
		nw = gomaxprocs()
	}
	queue := make(chan *udpBatch, queueBatches)
	var readers, workers sync.WaitGroup
	for _, c := range l.udp {
		readers.Go(func() { l.readUDP(c, queue) })
	}
	// Submissions outlive ctx: the daemon stops sources before the
	// correlator, so the batches in hand are still taken.
	subCtx := context.WithoutCancel(ctx)
	for range nw {
		workers.Go(func() { l.work(subCtx, sub, queue) })
	}
	<-ctx.Done()
	l.Close()
	readers.Wait()
	close(queue)
	workers.Wait()
	return nil
}

// readUDP reads datagrams until the socket is closed.
func (l *Listener) readUDP(c *net.UDPConn, queue chan<- *udpBatch) {
	pc := ipv4.NewPacketConn(c)
	max := l.cfg.MaxMessageBytes
	ms := make([]ipv4.Message, readBatch)
	slab := make([]byte, readBatch*(max+1))
	for i := range ms {
		ms[i].Buffers = [][]byte{slab[i*(max+1) : (i+1)*(max+1)]}
	}
	for {
		n, err := pc.ReadBatch(ms, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Not expected on a UDP socket; do not spin if it persists.
			l.log.Warn().Err(err).Msg("read UDP")
			time.Sleep(10 * time.Millisecond)
			continue
		}
		b := batchPool.Get().(*udpBatch)
		b.reset()
		b.arrival = l.now()
		tooLarge := 0
		for i := range ms[:n] {
			m := &ms[i]
			if m.N > max {
				tooLarge++
				continue
			}
			b.data = append(b.data, m.Buffers[0][:m.N]...)
			b.ends = append(b.ends, len(b.data))
			b.peers = append(b.peers, m.Addr)
			m.Addr = nil
		}
		if tooLarge > 0 {
			l.m.messages.Add(float64(tooLarge))
			l.m.drop(dropTooLarge, tooLarge)
		}
		if len(b.ends) == 0 {
			batchPool.Put(b)
			continue
		}
		// When every worker is busy and the queue is full, the machine
		// is out of CPU for this rate: the reader waits rather than read
		// datagrams only to throw them away (which takes the CPU the
		// workers need); the kernel's buffer fills and drops what does
		// not fit, counted in kernel_drops_total. The correlator being
		// full never blocks a worker (the events are dropped), so only
		// parsing keeps the readers waiting.
		queue <- b
	}
}

// work parses, extracts and submits batches until the queue is closed.
// While more batches wait, it takes them before submitting, up to
// maxWorkerEvents events: larger submissions cost the correlator less per
// event.
func (l *Listener) work(ctx context.Context, sub ingest.Submitter, queue <-chan *udpBatch) {
	pr := l.newProcessor()
	for b := range queue {
		l.handleBatch(pr, b)
		for len(pr.events) < maxWorkerEvents && len(queue) > 0 {
			next, ok := <-queue
			if !ok {
				break
			}
			l.handleBatch(pr, next)
		}
		pr.flushCounts()
		if len(pr.events) > 0 {
			if err := sub.Submit(ctx, pr.events); err != nil {
				l.submitFailed(err, len(pr.events))
			} else {
				l.m.accepted(len(pr.events))
			}
			pr.resetEvents()
		}
	}
}

// maxWorkerEvents bounds the events a worker gathers for one submission.
const maxWorkerEvents = 512

func (l *Listener) handleBatch(pr *processor, b *udpBatch) {
	start := 0
	for i, end := range b.ends {
		pr.handle(b.data[start:end], b.peers[i], b.arrival)
		start = end
	}
	if cap(b.data) <= 1<<20 {
		batchPool.Put(b)
	}
}
