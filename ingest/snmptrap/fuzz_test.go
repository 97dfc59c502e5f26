package snmptrap

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode runs the whole packet path (header checks, gosnmp decoding,
// USM, translation) over arbitrary datagrams.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*", "packet.bin"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03})
	d := goldenDecoder(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		res := d.decode(pkt, goldenSrc, goldenNow)
		if res.ok == (res.reason != "") && !res.discov {
			t.Fatalf("ok %v with reason %q", res.ok, res.reason)
		}
		if res.ok && len(res.ev.Raw) > 2048 {
			t.Fatalf("raw of %d bytes", len(res.ev.Raw))
		}
	})
}
