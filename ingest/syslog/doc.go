// Package syslog receives syslog over UDP (RFC 5426), TCP (RFC 6587: octet
// counting or non-transparent framing, detected per connection) and TLS
// (RFC 5425), parses RFC 5424 and RFC 3164 messages (auto-detected per
// message; Cisco IOS headers on request), and turns the lines that
// extraction rules match into ingest.Events for the correlator.
//
// Each configured listener is a Listener, an ingest.Source: New opens its
// sockets, Run serves them until its context ends. The configuration,
// extraction rules, events, metrics and what UDP can lose are documented
// in docs/syslog.md.
//
// # Pipeline
//
// UDP: Readers sockets share the port with SO_REUSEPORT; each is read by
// one goroutine with recvmmsg (golang.org/x/net/ipv4 ReadBatch) into
// pooled batches queued for Workers goroutines, which parse, extract and
// submit. On correlator backpressure a worker drops the events and counts
// them, so a slow correlator never holds up the reads; when the workers
// are out of CPU the readers wait and the kernel drops (counted from
// /proc/net/udp) rather than corrd reading datagrams only to discard them.
//
// TCP and TLS: one goroutine per connection (at most MaxConnections, and at
// most MaxConnectionsPerSource from one source address) reads
// frames of at most MaxMessageBytes, parses, extracts and submits in
// batches; on correlator backpressure it retries with backoff and stops
// reading meanwhile, so TCP flow control slows the sender. A connection
// idle (or stalled inside a frame) for IdleTimeout is closed.
//
// # Parsing
//
// fastparse.go reads the common shapes of both formats by hand, one
// allocation per message; everything else goes to
// github.com/leodido/go-syslog/v4 (best-effort mode: a message with a valid
// PRI and a broken header still goes through extraction, counted as a parse
// error). FuzzFastParse checks that the two agree on whatever the fast
// path takes.
//
// # Tests and benchmarks
//
//	go test ./ingest/syslog/                       # golden cases in testdata/golden
//	go test ./ingest/syslog/ -run TestGolden -update
//	go test ./ingest/syslog/ -run XXX -fuzz FuzzFastParse
//	go test ./ingest/syslog/ -run XXX -bench Process
//	bash bench/syslog.sh                           # UDP rate against rsyslog
package syslog
