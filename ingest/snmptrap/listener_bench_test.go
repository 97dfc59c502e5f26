package snmptrap

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/net/ipv4"
)

// BenchmarkListener sends b.N captured packets over loopback to a running
// listener, at most 64 ahead of what it has read, and reports traps/s
// accepted. Run with -cpuprofile to see the whole receive path.
func BenchmarkListener(b *testing.B) {
	for _, c := range []string{"v2c-linkdown", "v3-authpriv-sha256-aes"} {
		b.Run(c, func(b *testing.B) {
			pkt, err := os.ReadFile(filepath.Join("testdata", "golden", c, "packet.bin"))
			if err != nil {
				b.Fatal(err)
			}
			l := startListener(&testing.T{}, goldenConfig())
			defer l.Close()
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
			accepted := func() int { return int(testutil.ToFloat64(l.m.traps["v2c"]) + testutil.ToFloat64(l.m.traps["v3"])) }
			b.ResetTimer()
			sent := 0
			for sent < b.N {
				for sent-accepted() > 4096 {
					// Let the listener catch up: no drops.
					runtime.Gosched()
				}
				n := min(len(msgs), b.N-sent)
				w, err := pc.WriteBatch(msgs[:n], 0)
				if err != nil {
					b.Fatal(err)
				}
				sent += w
			}
			for accepted() < sent {
				runtime.Gosched()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "traps/s")
		})
	}
}
