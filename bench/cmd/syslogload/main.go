// Command syslogload sends syslog messages over UDP at a fixed rate for a
// bounded time, for bench/syslog.sh.
//
//	syslogload -addr 127.0.0.1:5514 -rate 100000 -duration 10s
//
// The messages are the register scenario of examples/retail: "pos" lines
// "terminal N offline" from store hosts ica-NNNN-pos, and, for the share
// -chatter of them, unrelated lines no extraction rule takes. Several
// sockets (-sockets) send, so that the receiver's SO_REUSEPORT readers all
// get a share. It prints "name value" lines: messages sent, seconds, rate.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5514", "UDP address to send to")
	rate := flag.Int("rate", 100000, "messages per second, in total")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	sockets := flag.Int("sockets", 4, "sending sockets (source ports), one goroutine each")
	format := flag.String("format", "rfc3164", "rfc3164 or rfc5424")
	chatter := flag.Float64("chatter", 0, "share of messages (0..1) that no extraction rule matches")
	stores := flag.Int("stores", 1000, "distinct stores (hosts)")
	flag.Parse()
	if *rate <= 0 || *sockets <= 0 || *duration <= 0 || (*format != "rfc3164" && *format != "rfc5424") {
		fmt.Fprintln(os.Stderr, "syslogload: bad flags")
		os.Exit(2)
	}
	raddr, err := net.ResolveUDPAddr("udp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "syslogload:", err)
		os.Exit(1)
	}
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(*duration)
	perSocket := float64(*rate) / float64(*sockets)
	for i := range *sockets {
		c, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "syslogload:", err)
			os.Exit(1)
		}
		wg.Go(func() {
			defer c.Close()
			g := &gen{rfc5424: *format == "rfc5424", chatter: *chatter, stores: *stores, rng: rand.New(rand.NewPCG(uint64(i), 42))}
			sent.Add(g.send(ipv4.NewPacketConn(c), perSocket, start, deadline))
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	fmt.Printf("syslogload_sent %d\n", sent.Load())
	fmt.Printf("syslogload_seconds %.3f\n", secs)
	fmt.Printf("syslogload_rate %.0f\n", float64(sent.Load())/secs)
}

const batch = 64

type gen struct {
	rfc5424 bool
	chatter float64
	stores  int
	rng     *rand.Rand
	stamp   []byte
	stampAt int64
}

// send paces messages at rate per second until deadline; it returns the
// number sent.
func (g *gen) send(pc *ipv4.PacketConn, rate float64, start, deadline time.Time) int64 {
	ms := make([]ipv4.Message, batch)
	bufs := make([][]byte, batch)
	for i := range ms {
		bufs[i] = make([]byte, 0, 256)
	}
	var n int64
	for {
		now := time.Now()
		if !now.Before(deadline) {
			return n
		}
		due := int64(now.Sub(start).Seconds() * rate)
		if due <= n {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		k := int(min(due-n, batch))
		g.refreshStamp(now)
		for i := range k {
			bufs[i] = g.message(bufs[i][:0])
			ms[i].Buffers = [][]byte{bufs[i]}
		}
		w, err := pc.WriteBatch(ms[:k], 0)
		if err != nil {
			// ECONNREFUSED from an earlier datagram, or a full send buffer.
			time.Sleep(time.Millisecond)
		}
		n += int64(w)
	}
}

func (g *gen) refreshStamp(now time.Time) {
	if sec := now.Unix(); sec != g.stampAt || g.stamp == nil {
		g.stampAt = sec
		if g.rfc5424 {
			g.stamp = now.UTC().AppendFormat(g.stamp[:0], "2006-01-02T15:04:05.000000Z")
		} else {
			g.stamp = now.AppendFormat(g.stamp[:0], time.Stamp)
		}
	}
}

// message appends one message to b.
func (g *gen) message(b []byte) []byte {
	store := g.rng.IntN(g.stores)
	chatter := g.chatter > 0 && g.rng.Float64() < g.chatter
	pri := "<131>" // local0.err
	if chatter {
		pri = "<134>" // local0.info
	}
	b = append(b, pri...)
	if g.rfc5424 {
		b = append(b, "1 "...)
	}
	b = append(b, g.stamp...)
	b = append(b, " ica-"...)
	b = appendPadded(b, store)
	b = append(b, "-pos "...)
	if g.rfc5424 {
		b = append(b, "pos 812 - - "...)
	} else {
		b = append(b, "pos[812]: "...)
	}
	if chatter {
		b = append(b, "heartbeat ok, queue depth "...)
		return strconv.AppendInt(b, int64(g.rng.IntN(100)), 10)
	}
	b = append(b, "terminal "...)
	b = strconv.AppendInt(b, int64(1+g.rng.IntN(12)), 10)
	return append(b, " offline"...)
}

func appendPadded(b []byte, n int) []byte {
	s := strconv.Itoa(n)
	for i := len(s); i < 4; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
