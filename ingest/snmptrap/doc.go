// Package snmptrap receives SNMP notifications — v1 and v2c traps, v3
// traps at every USM security level, and INFORMs of v2c and v3 — on one
// UDP socket per listener, and turns each into an ingest.Event for the
// correlator. It replaces the snmptrapd + SNMPTT chain: the packet is
// authenticated, its trap OID and varbinds are translated with MIB
// modules, and a trap definition table gives it a name, a severity, a
// category, and whether it raises or clears a signal.
//
// # Receive path
//
// New opens the socket. Run reads it with batched reads (recvmmsg), copies
// each datagram into a pooled buffer (gosnmp decrypts v3 packets in
// place) and hands it to a pool of workers, so that decoding never blocks
// the socket reads; when every worker is busy and the queue is full, the
// socket's receive buffer absorbs the burst, and what overflows it is
// dropped by the kernel (counted from /proc/net/udp). A worker checks the header
// by hand first (version, community, v3 user and security level, all
// without decoding), decodes with github.com/gosnmp/gosnmp, builds the
// event, and submits events in batches. INFORMs are acknowledged after
// their batch is accepted: an INFORM refused for backpressure is not
// acknowledged, and its sender retries.
//
// # Security
//
//   - v1/v2c: the community must be one of Config.Communities (gosnmp
//     does not check it).
//   - v3: USM with several users (Config.Users), each with MD5, SHA or
//     SHA-2 authentication and DES or AES-128/192/256 privacy. A packet
//     must use the user's level: an authenticated user's noAuth packet is
//     refused, as is a wrong digest or a packet that does not decrypt.
//   - Engine-ID discovery (RFC 3414 section 4) is answered by the
//     listener with its own engine ID (Config.EngineID), boots and time,
//     so that v3 INFORMs from any configured user work.
//   - Time windows against replays: for INFORMs the listener is the
//     authoritative engine and refuses (with a usmStatsNotInTimeWindows
//     Report) messages more than 150 s off its clock or of another boot;
//     for traps the sender is authoritative, and the listener learns each
//     sending engine's boots and time and refuses older messages.
//   - Source allow-list per listener (Config.AllowSources).
//
// Every refused packet is counted by reason in
// corrd_ingest_events_rejected_total{kind="snmptrap"} and, for the
// security reasons, in corrd_ingest_snmptrap_auth_failures_total.
//
// # Translation
//
// LoadMIB parses the bundled standard modules (mibs/: SNMPv2-MIB, IF-MIB,
// UPS-MIB, written from their RFCs) and the modules in Config.MIBDirs with
// the gosmi parser, and resolves their OIDs itself (no global state). v1
// traps map to SNMPv2 trap OIDs per RFC 3584. Varbinds become labels named
// by the MIB object (ifIndex, ifDescr, ifOperStatus), enumerations by
// value name ("down"); unknown OIDs become oid_1_3_6_... labels.
//
// # Events
//
// Kind "snmptrap", Source the listener name, EventTime and ArrivalTime the
// arrival (a trap carries only the sender's uptime). Labels: alertname (the
// definition's alert), trap (definition or MIB name, or the OID), device
// (Config.DeviceFrom), severity, category, the varbinds and the
// definition's labels. The fingerprint is over alertname and the
// definition's fingerprint labels, so a raise and its clear are one
// signal. Annotations: snmp_version, source_address, trap_oid, uptime,
// description.
package snmptrap
