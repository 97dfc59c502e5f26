// Command traploadgen sends SNMP traps at a fixed rate, or as fast as it
// can, to measure trap receivers (bench/snmptrap.sh). Packets are encoded
// once with gosnmp before sending, so the generator's cost per trap is a
// sendmmsg slot; each of -distinct packets is a linkDown for its own port.
//
//	traploadgen -addr 127.0.0.1:9162 -version 2c -rate 50000 -duration 5s
//	traploadgen -addr 127.0.0.1:9162 -version 3 -user alice -auth SHA-256 \
//	    -auth-pass authpass123 -priv AES -priv-pass privpass123 -rate 0
//
// It prints "name value" lines: sent, seconds, rate.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"
	"golang.org/x/net/ipv4"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9162", "receiver address")
	version := flag.String("version", "2c", "1, 2c or 3")
	community := flag.String("community", "public", "v1/v2c community")
	user := flag.String("user", "alice", "v3 user")
	auth := flag.String("auth", "SHA-256", "v3 auth protocol: MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512 or empty")
	authPass := flag.String("auth-pass", "authpass123", "v3 auth passphrase")
	priv := flag.String("priv", "AES", "v3 privacy protocol: DES, AES, AES-192, AES-256 or empty")
	privPass := flag.String("priv-pass", "privpass123", "v3 privacy passphrase")
	engineID := flag.String("engine-id", "8000000001aabbcc", "v3 sender engine ID (hex)")
	rate := flag.Int("rate", 0, "traps per second; 0 sends as fast as possible")
	duration := flag.Duration("duration", 5*time.Second, "how long to send")
	distinct := flag.Int("distinct", 1000, "distinct packets (ports) to cycle through")
	flag.Parse()

	pkts, err := encode(*version, *community, *user, *auth, *authPass, *priv, *privPass, *engineID, *distinct)
	if err != nil {
		fmt.Fprintln(os.Stderr, "traploadgen:", err)
		os.Exit(1)
	}
	conn, err := net.Dial("udp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "traploadgen:", err)
		os.Exit(1)
	}
	_ = conn.(*net.UDPConn).SetWriteBuffer(8 << 20)
	sent, secs := send(ipv4.NewPacketConn(conn.(*net.UDPConn)), pkts, *rate, *duration)
	fmt.Printf("sent %d\nseconds %.3f\nrate %.0f\n", sent, secs, float64(sent)/secs)
}

// send writes the packets round-robin in batches, pacing to rate.
func send(pc *ipv4.PacketConn, pkts [][]byte, rate int, d time.Duration) (int, float64) {
	const batch = 64
	msgs := make([]ipv4.Message, batch)
	start := time.Now()
	end := start.Add(d)
	sent, i := 0, 0
	for {
		now := time.Now()
		if now.After(end) {
			break
		}
		n := batch
		if rate > 0 {
			due := int(float64(rate) * now.Sub(start).Seconds())
			if due-sent <= 0 {
				time.Sleep(200 * time.Microsecond)
				continue
			}
			n = min(batch, due-sent)
		}
		for k := range n {
			msgs[k].Buffers = [][]byte{pkts[i]}
			i = (i + 1) % len(pkts)
		}
		w, err := pc.WriteBatch(msgs[:n], 0)
		if err != nil {
			// ECONNREFUSED from an ICMP of an earlier packet: go on.
			continue
		}
		sent += w
	}
	return sent, time.Since(start).Seconds()
}

var authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
	"": gosnmp.NoAuth, "MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA-224": gosnmp.SHA224,
	"SHA-256": gosnmp.SHA256, "SHA-384": gosnmp.SHA384, "SHA-512": gosnmp.SHA512,
}

var privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
	"": gosnmp.NoPriv, "DES": gosnmp.DES, "AES": gosnmp.AES, "AES-192": gosnmp.AES192, "AES-256": gosnmp.AES256,
}

// encode builds n linkDown traps, one per port.
func encode(version, community, user, auth, authPass, priv, privPass, engineHex string, n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	for port := 1; port <= n; port++ {
		vars := []gosnmp.SnmpPDU{
			{Name: ".1.3.6.1.2.1.2.2.1.1." + fmt.Sprint(port), Type: gosnmp.Integer, Value: port},
			{Name: ".1.3.6.1.2.1.2.2.1.7." + fmt.Sprint(port), Type: gosnmp.Integer, Value: 1},
			{Name: ".1.3.6.1.2.1.2.2.1.8." + fmt.Sprint(port), Type: gosnmp.Integer, Value: 2},
		}
		p := &gosnmp.SnmpPacket{Community: community, RequestID: uint32(port), MsgID: uint32(port), MsgMaxSize: 65507}
		switch version {
		case "1":
			p.Version, p.PDUType = gosnmp.Version1, gosnmp.Trap
			p.SnmpTrap = gosnmp.SnmpTrap{Enterprise: ".1.3.6.1.4.1.8072.2.3", AgentAddress: "127.0.0.1", GenericTrap: 2, Timestamp: 100}
			p.Variables = vars
		case "2c":
			p.Version, p.PDUType = gosnmp.Version2c, gosnmp.SNMPv2Trap
			p.Variables = append([]gosnmp.SnmpPDU{
				{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(100)},
				{Name: ".1.3.6.1.6.3.1.1.4.1.0", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.6.3.1.1.5.3"},
			}, vars...)
		case "3":
			a, ok := authProtocols[strings.ToUpper(auth)]
			if !ok {
				return nil, fmt.Errorf("unknown auth protocol %q", auth)
			}
			pr, ok := privProtocols[strings.ToUpper(priv)]
			if !ok {
				return nil, fmt.Errorf("unknown privacy protocol %q", priv)
			}
			eid, err := parseHex(engineHex)
			if err != nil {
				return nil, err
			}
			flags := gosnmp.NoAuthNoPriv
			if a != gosnmp.NoAuth {
				flags = gosnmp.AuthNoPriv
			}
			if pr != gosnmp.NoPriv {
				flags = gosnmp.AuthPriv
			}
			sp := &gosnmp.UsmSecurityParameters{
				// Engine time follows the wall clock across runs, as a
				// real agent's does: receivers refuse replays (RFC 3414
				// 3.2.7), and the packets are encoded once per run.
				UserName: user, AuthoritativeEngineID: string(eid), AuthoritativeEngineBoots: 1,
				AuthoritativeEngineTime: uint32(time.Now().Unix() - 1_600_000_000),
				AuthenticationProtocol:  a, AuthenticationPassphrase: authPass,
				PrivacyProtocol: pr, PrivacyPassphrase: privPass, Logger: gosnmp.NewLogger(nil),
			}
			if err := sp.InitSecurityKeys(); err != nil {
				return nil, err
			}
			p.Version, p.PDUType = gosnmp.Version3, gosnmp.SNMPv2Trap
			p.MsgFlags, p.SecurityModel, p.SecurityParameters = flags, gosnmp.UserSecurityModel, sp
			p.ContextEngineID = string(eid)
			p.Variables = append([]gosnmp.SnmpPDU{
				{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(100)},
				{Name: ".1.3.6.1.6.3.1.1.4.1.0", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.6.3.1.1.5.3"},
			}, vars...)
		default:
			return nil, fmt.Errorf("unknown version %q", version)
		}
		if sp, ok := p.SecurityParameters.(*gosnmp.UsmSecurityParameters); ok && sp.PrivacyProtocol != gosnmp.NoPriv {
			// MarshalMsg does not allocate the privacy salt (GoSNMP's
			// send does): one per packet.
			sp.PrivacyParameters = make([]byte, 8)
			binary.BigEndian.PutUint32(sp.PrivacyParameters, 1)
			binary.BigEndian.PutUint32(sp.PrivacyParameters[4:], uint32(port))
		}
		b, err := p.MarshalMsg()
		if err != nil {
			return nil, fmt.Errorf("encode: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

func parseHex(s string) ([]byte, error) {
	s = strings.TrimPrefix(s, "0x")
	b := make([]byte, len(s)/2)
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		return nil, fmt.Errorf("engine id: %w", err)
	}
	return b, nil
}
