package snmptrap

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/gosnmp/gosnmp"
)

// Defaults applied by New.
const (
	DefaultAddress      = "0.0.0.0:9162"
	DefaultQueueSize    = 8192
	DefaultRecvBufBytes = 8 << 20
	maxDatagram         = 65535
)

// Config configures one trap listener.
type Config struct {
	// Name names the listener in events (Source), logs and metrics.
	Name string `yaml:"name"`
	// Address is the UDP address to listen on. Default DefaultAddress.
	Address string `yaml:"address,omitempty"`
	// Communities are the v1/v2c communities accepted; none accepts no
	// v1/v2c packet.
	Communities []Secret `yaml:"communities,omitempty"`
	// AllowSources are the prefixes (or addresses) packets may come
	// from; empty allows every source.
	AllowSources []string `yaml:"allow_sources,omitempty"`
	// Users are the SNMPv3 USM users; none accepts no v3 packet.
	Users []User `yaml:"users,omitempty"`
	// EngineID is this receiver's SNMP engine ID in hex (0x optional),
	// the authoritative engine of INFORMs. Default: derived from Name.
	EngineID string `yaml:"engine_id,omitempty"`
	// MIBDirs are directories of MIB modules loaded at start, besides the
	// bundled standard ones.
	MIBDirs []string `yaml:"mib_dirs,omitempty"`
	// TrapFiles are trap definition tables (see TrapTable).
	TrapFiles []string `yaml:"trap_files,omitempty"`
	// DeviceFrom says where the device label comes from: agent (v1
	// agent-addr, else the UDP source), source, or varbind:<name>.
	// Default agent.
	DeviceFrom string `yaml:"device_from,omitempty"`
	// Unknown is what happens to traps no definition matches: raw (pass
	// them on, severity unknown) or drop. Default raw.
	Unknown string `yaml:"unknown,omitempty"`
	// Readers is the number of socket reader goroutines; 0 takes 1.
	Readers int `yaml:"readers,omitempty"`
	// Workers is the number of decoding goroutines; 0 takes GOMAXPROCS.
	Workers int `yaml:"workers,omitempty"`
	// QueueSize is the number of datagrams waiting for a worker; when
	// it is full the readers wait and the socket buffer fills. Default
	// DefaultQueueSize.
	QueueSize int `yaml:"queue_size,omitempty"`
	// ReceiveBufferBytes sets SO_RCVBUF. Default DefaultRecvBufBytes.
	ReceiveBufferBytes int `yaml:"receive_buffer_bytes,omitempty"`
	// TimeWindowSeconds is the USM time window (RFC 3414: 150).
	TimeWindowSeconds int `yaml:"time_window_seconds,omitempty"`
}

// User is one SNMPv3 USM user.
type User struct {
	Name string `yaml:"name"`
	// AuthProtocol is "" (noAuthNoPriv), MD5, SHA, SHA-224, SHA-256,
	// SHA-384 or SHA-512.
	AuthProtocol   string `yaml:"auth_protocol,omitempty"`
	AuthPassphrase Secret `yaml:"auth_passphrase,omitempty"`
	// PrivProtocol is "", DES, AES (AES-128), AES-192 or AES-256 (and the
	// Cisco "AES-192-C", "AES-256-C" key extension variants).
	PrivProtocol   string `yaml:"priv_protocol,omitempty"`
	PrivPassphrase Secret `yaml:"priv_passphrase,omitempty"`
}

// Secret is a string that never prints.
type Secret string

const secretMask = "<secret>"

// String implements fmt.Stringer.
func (s Secret) String() string { return secretMask }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(secretMask), nil }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return secretMask, nil }

var authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
	"MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA1": gosnmp.SHA, "SHA-1": gosnmp.SHA,
	"SHA-224": gosnmp.SHA224, "SHA-256": gosnmp.SHA256, "SHA-384": gosnmp.SHA384, "SHA-512": gosnmp.SHA512,
	"SHA224": gosnmp.SHA224, "SHA256": gosnmp.SHA256, "SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512,
}

var privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
	"DES": gosnmp.DES, "AES": gosnmp.AES, "AES-128": gosnmp.AES, "AES128": gosnmp.AES,
	"AES-192": gosnmp.AES192, "AES192": gosnmp.AES192, "AES-256": gosnmp.AES256, "AES256": gosnmp.AES256,
	"AES-192-C": gosnmp.AES192C, "AES-256-C": gosnmp.AES256C,
}

// deviceFrom is a parsed Config.DeviceFrom.
type deviceFrom struct {
	kind    string // agent, source, varbind
	varbind string
}

func parseDeviceFrom(s string) (deviceFrom, error) {
	switch {
	case s == "" || s == "agent":
		return deviceFrom{kind: "agent"}, nil
	case s == "source":
		return deviceFrom{kind: "source"}, nil
	case strings.HasPrefix(s, "varbind:") && len(s) > len("varbind:"):
		return deviceFrom{kind: "varbind", varbind: s[len("varbind:"):]}, nil
	}
	return deviceFrom{}, fmt.Errorf("unknown %q (want agent, source or varbind:<name>)", s)
}

// parseEngineID decodes a hex engine ID (RFC 3411: 5 to 32 octets).
func parseEngineID(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	if len(b) < 5 || len(b) > 32 {
		return nil, fmt.Errorf("%d octets, want 5 to 32", len(b))
	}
	return b, nil
}

// parsePrefix reads an address or a CIDR prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Validate reports every problem of c, each prefixed with path (e.g.
// `ingest.snmptrap[0] "switches"`). It reads no files.
func (c *Config) Validate(path string) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	if c.Name == "" {
		add(".name", "must not be empty")
	}
	if c.Address != "" {
		if _, _, err := net.SplitHostPort(c.Address); err != nil {
			add(".address", "%v", err)
		}
	}
	for i, s := range c.AllowSources {
		if _, err := parsePrefix(s); err != nil {
			add(fmt.Sprintf(".allow_sources[%d]", i), "%v", err)
		}
	}
	for i, cm := range c.Communities {
		if cm == "" {
			add(fmt.Sprintf(".communities[%d]", i), "must not be empty")
		}
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		p := fmt.Sprintf(".users[%d]", i)
		if u.Name == "" {
			add(p+".name", "must not be empty")
		} else if seen[u.Name] {
			add(p+".name", "duplicate user %q", u.Name)
		}
		seen[u.Name] = true
		if u.AuthProtocol != "" {
			if _, ok := authProtocols[strings.ToUpper(u.AuthProtocol)]; !ok {
				add(p+".auth_protocol", "unknown %q (want MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512)", u.AuthProtocol)
			}
			if len(u.AuthPassphrase) < 8 {
				add(p+".auth_passphrase", "must be at least 8 characters (RFC 3414)")
			}
		} else if u.AuthPassphrase != "" {
			add(p+".auth_passphrase", "set without auth_protocol")
		}
		if u.PrivProtocol != "" {
			if _, ok := privProtocols[strings.ToUpper(u.PrivProtocol)]; !ok {
				add(p+".priv_protocol", "unknown %q (want DES, AES, AES-192 or AES-256)", u.PrivProtocol)
			}
			if u.AuthProtocol == "" {
				add(p+".priv_protocol", "privacy needs auth_protocol")
			}
			if len(u.PrivPassphrase) < 8 {
				add(p+".priv_passphrase", "must be at least 8 characters (RFC 3414)")
			}
		} else if u.PrivPassphrase != "" {
			add(p+".priv_passphrase", "set without priv_protocol")
		}
	}
	if c.EngineID != "" {
		if _, err := parseEngineID(c.EngineID); err != nil {
			add(".engine_id", "%v", err)
		}
	}
	if len(c.Communities) == 0 && len(c.Users) == 0 {
		add("", "neither communities nor users: every packet would be rejected")
	}
	if _, err := parseDeviceFrom(c.DeviceFrom); err != nil {
		add(".device_from", "%v", err)
	}
	switch c.Unknown {
	case "", "raw", "drop":
	default:
		add(".unknown", "unknown %q (want raw or drop)", c.Unknown)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"readers", c.Readers}, {"workers", c.Workers}, {"queue_size", c.QueueSize},
		{"receive_buffer_bytes", c.ReceiveBufferBytes}, {"time_window_seconds", c.TimeWindowSeconds}} {
		if f.v < 0 {
			add("."+f.name, "must be >= 0 (0 takes the default)")
		}
	}
	for i, d := range c.MIBDirs {
		if d == "" {
			add(fmt.Sprintf(".mib_dirs[%d]", i), "must not be empty")
		}
	}
	for i, d := range c.TrapFiles {
		if d == "" {
			add(fmt.Sprintf(".trap_files[%d]", i), "must not be empty")
		}
	}
	return errors.Join(errs...)
}

// ValidateAll validates a list of listeners under path (e.g.
// "ingest.snmptrap"), including that names and addresses are unique.
func ValidateAll(path string, cs []Config) error {
	var errs []error
	names := map[string]bool{}
	for i := range cs {
		p := fmt.Sprintf("%s[%d] %q", path, i, cs[i].Name)
		errs = append(errs, cs[i].Validate(p))
		if cs[i].Name != "" && names[cs[i].Name] {
			errs = append(errs, fmt.Errorf("%s.name: duplicate listener name", p))
		}
		names[cs[i].Name] = true
	}
	return errors.Join(errs...)
}
