package syslog

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// kernelDrops exports the datagrams the kernel dropped because a socket's
// receive buffer was full: per listener from the drops column of
// /proc/net/udp{,6} (the listener's own sockets, by inode), and for the
// whole host from RcvbufErrors in /proc/net/snmp{,6}. Both are read at
// scrape time.
type kernelDrops struct {
	procNet  string
	perDesc  *prometheus.Desc
	hostDesc *prometheus.Desc

	mu    sync.Mutex
	socks map[string]map[uint64]bool // source -> socket inodes
}

func newKernelDrops() *kernelDrops {
	return &kernelDrops{
		procNet: "/proc/net",
		perDesc: prometheus.NewDesc("corrd_ingest_syslog_kernel_drops_total",
			"Datagrams the kernel dropped on this listener's UDP sockets because their receive buffer was full (/proc/net/udp drops).",
			[]string{"source"}, nil),
		hostDesc: prometheus.NewDesc("corrd_ingest_syslog_udp_rcvbuf_errors_total",
			"UDP datagrams the kernel dropped host-wide for full receive buffers (RcvbufErrors of /proc/net/snmp and snmp6), all sockets.",
			nil, nil),
		socks: map[string]map[uint64]bool{},
	}
}

func (k *kernelDrops) add(source string, inode uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.socks[source] == nil {
		k.socks[source] = map[uint64]bool{}
	}
	k.socks[source][inode] = true
}

func (k *kernelDrops) remove(source string, inode uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.socks[source], inode)
}

// Describe implements prometheus.Collector.
func (k *kernelDrops) Describe(ch chan<- *prometheus.Desc) {
	ch <- k.perDesc
	ch <- k.hostDesc
}

// Collect implements prometheus.Collector.
func (k *kernelDrops) Collect(ch chan<- prometheus.Metric) {
	k.mu.Lock()
	sources := make(map[string][]uint64, len(k.socks))
	for s, set := range k.socks {
		for ino := range set {
			sources[s] = append(sources[s], ino)
		}
	}
	k.mu.Unlock()
	if len(sources) > 0 {
		drops := socketDrops(k.procNet+"/udp", socketDrops(k.procNet+"/udp6", nil))
		for s, inos := range sources {
			var n uint64
			for _, ino := range inos {
				n += drops[ino]
			}
			ch <- prometheus.MustNewConstMetric(k.perDesc, prometheus.CounterValue, float64(n), s)
		}
	}
	if n, ok := rcvbufErrors(k.procNet); ok {
		ch <- prometheus.MustNewConstMetric(k.hostDesc, prometheus.CounterValue, float64(n))
	}
}

// socketDrops adds the drops of every socket of a /proc/net/udp file to m,
// by inode.
func socketDrops(path string, m map[uint64]uint64) map[uint64]uint64 {
	if m == nil {
		m = map[uint64]uint64{}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return m
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 13 {
			continue
		}
		ino, err1 := strconv.ParseUint(f[9], 10, 64)
		n, err2 := strconv.ParseUint(f[len(f)-1], 10, 64)
		if err1 == nil && err2 == nil {
			m[ino] += n
		}
	}
	return m
}

// rcvbufErrors reads the host-wide UDP receive buffer errors, IPv4 and IPv6.
func rcvbufErrors(procNet string) (uint64, bool) {
	var total uint64
	found := false
	if data, err := os.ReadFile(procNet + "/snmp"); err == nil {
		var header []string
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] != "Udp:" {
				continue
			}
			if header == nil {
				header = f
				continue
			}
			for i := 1; i < len(f) && i < len(header); i++ {
				if header[i] == "RcvbufErrors" {
					if n, err := strconv.ParseUint(f[i], 10, 64); err == nil {
						total += n
						found = true
					}
				}
			}
			break
		}
	}
	if data, err := os.ReadFile(procNet + "/snmp6"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "Udp6RcvbufErrors" {
				if n, err := strconv.ParseUint(f[1], 10, 64); err == nil {
					total += n
					found = true
				}
			}
		}
	}
	return total, found
}
