package snmptrap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkDecode decodes each golden packet: one sub-benchmark per
// version and security level, and per reason of refusal.
func BenchmarkDecode(b *testing.B) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "golden", "*"))
	for _, dir := range dirs {
		pkt, err := os.ReadFile(filepath.Join(dir, "packet.bin"))
		if err != nil {
			b.Fatal(err)
		}
		reject := strings.HasPrefix(filepath.Base(dir), "reject-")
		b.Run(filepath.Base(dir), func(b *testing.B) {
			d := goldenDecoder(b)
			syncEngine(d, pkt)
			buf := make([]byte, len(pkt))
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			for b.Loop() {
				copy(buf, pkt)
				if res := d.decode(buf, goldenSrc, goldenNow); !res.ok && !reject {
					b.Fatal(res.reason)
				}
			}
		})
	}
}

// BenchmarkRejectCommunity is the cost of refusing a v2c packet with a
// wrong community (a flood of them must not cost a decode).
func BenchmarkRejectCommunity(b *testing.B) {
	pkt, err := os.ReadFile(filepath.Join("testdata", "golden", "v2c-linkdown", "packet.bin"))
	if err != nil {
		b.Fatal(err)
	}
	d := goldenDecoder(b)
	d.communities = [][]byte{[]byte("other")}
	b.ReportAllocs()
	for b.Loop() {
		if res := d.decode(pkt, goldenSrc, goldenNow); res.reason != reasonCommunity {
			b.Fatal(res.reason)
		}
	}
}
