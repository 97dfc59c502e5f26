package bench

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"golang.org/x/net/ipv4"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/ingest/snmptrap"
	"github.com/corrd/corrd/rules"
)

// BenchmarkSNMPTrapInProcess drives an SNMP trap listener wired to the
// engine, as cmd/corrd wires them, with captured net-snmp packets over
// loopback, never more than 4096 ahead of what was accepted (so nothing is
// dropped). For CPU profiles of the whole trap path:
//
//	go test ./bench -run XXX -bench SNMPTrapInProcess -benchtime 300000x -cpuprofile cpu.out
func BenchmarkSNMPTrapInProcess(b *testing.B) {
	golden := filepath.Join("..", "ingest", "snmptrap", "testdata", "golden")
	for _, c := range []string{"v2c-linkdown", "v3-authpriv-sha256-aes"} {
		b.Run(c, func(b *testing.B) {
			pkt, err := os.ReadFile(filepath.Join(golden, c, "packet.bin"))
			if err != nil {
				b.Fatal(err)
			}
			set, err := rules.Load([]string{filepath.Join("..", "examples", "snmp", "rules.yml")}, rules.DefaultMatrix())
			if err != nil {
				b.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			e := correlator.New(correlator.Options{}, set, &discardPublisher{}, reg, zerolog.Nop())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = e.Run(ctx) }()
			for {
				err := e.Submit(ctx, nil)
				if err == nil || !errors.Is(err, correlator.ErrNotRunning) {
					break
				}
				runtime.Gosched()
			}
			im := ingest.NewMetrics(reg)
			l, err := snmptrap.New(snmptrap.Config{
				Name: "bench", Address: "127.0.0.1:0", Communities: []snmptrap.Secret{"public"},
				Users: []snmptrap.User{{Name: "alice", AuthProtocol: "SHA-256", AuthPassphrase: "authpass123",
					PrivProtocol: "AES", PrivPassphrase: "privpass123"}},
				TrapFiles: []string{filepath.Join("..", "examples", "snmp", "store-switch.traps.yaml")},
			}, im, reg, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			go func() { _ = l.Run(ctx, e) }()
			conn, err := net.Dial("udp", l.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			pc := ipv4.NewPacketConn(conn.(*net.UDPConn))
			msgs := make([]ipv4.Message, 64)
			for i := range msgs {
				msgs[i].Buffers = [][]byte{pkt}
			}
			received := im.Received.WithLabelValues("bench", "snmptrap")
			accepted := func() int { return int(testutil.ToFloat64(received)) }
			b.ResetTimer()
			sent := 0
			for sent < b.N {
				for sent-accepted() > 4096 {
					runtime.Gosched()
				}
				w, err := pc.WriteBatch(msgs[:min(len(msgs), b.N-sent)], 0)
				if err != nil {
					b.Fatal(err)
				}
				sent += w
			}
			deadline := time.Now().Add(30 * time.Second)
			for accepted() < sent && time.Now().Before(deadline) {
				runtime.Gosched()
			}
			b.ReportMetric(float64(accepted())/b.Elapsed().Seconds(), "traps/s")
		})
	}
}
