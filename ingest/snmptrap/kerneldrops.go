package snmptrap

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// watchKernelDrops copies the kernel's count of datagrams dropped for the
// socket (the drops column of /proc/net/udp and udp6, i.e. receive buffer
// overflows) into the kernel drops counter, once a second.
func (l *Listener) watchKernelDrops(ctx context.Context) {
	ua, ok := l.conn.LocalAddr().(*net.UDPAddr)
	if !ok || ua.Port == 0 {
		return
	}
	port := ua.Port
	var last uint64
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	update := func() {
		n, ok := socketDrops(port)
		if ok && n > last {
			l.m.kernelDrops.Add(float64(n - last))
			last = n
		}
	}
	for {
		select {
		case <-ctx.Done():
			update()
			return
		case <-tick.C:
			update()
		}
	}
}

// socketDrops sums the drops of the UDP sockets bound to port.
func socketDrops(port int) (uint64, bool) {
	want := fmt.Sprintf(":%04X", port)
	var total uint64
	found := false
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Scan() // header
		for sc.Scan() {
			fields := bytes.Fields(sc.Bytes())
			if len(fields) < 13 || !bytes.HasSuffix(fields[1], []byte(want)) {
				continue
			}
			if n, err := strconv.ParseUint(string(fields[len(fields)-1]), 10, 64); err == nil {
				total += n
				found = true
			}
		}
	}
	return total, found
}
