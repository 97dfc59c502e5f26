package syslog

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/corrd/corrd/ingest"
)

// Defaults applied by SetDefaults (and by New, on its own copy).
const (
	DefaultMaxMessageBytesUDP = 8192
	DefaultMaxMessageBytesTCP = 65536
	DefaultMaxConnections     = 1024
	// DefaultMaxConnectionsPerSource leaves room for a relay's few
	// connections (rsyslog opens one per action) while one source cannot
	// take the listener's whole max_connections.
	DefaultMaxConnectionsPerSource = 32
	DefaultIdleTimeout             = time.Minute
	DefaultReceiveBuffer           = 8 << 20
	// MaxMessageBytesLimit bounds max_message_bytes.
	MaxMessageBytesLimit = 1 << 20
)

// Config is one syslog listener. Zero values take the defaults; see
// SetDefaults.
type Config struct {
	// Name identifies the listener in metrics (label source), logs and
	// events (Event.Source). Required, unique.
	Name string `yaml:"name"`
	// Protocol is udp (RFC 5426), tcp (RFC 6587) or tls (RFC 5425).
	// Default udp.
	Protocol Protocol `yaml:"protocol,omitempty"`
	// Address is host:port to listen on. Required.
	Address string `yaml:"address"`
	// Format is auto (per message), rfc5424 or rfc3164. Default auto.
	Format Format `yaml:"format,omitempty"`
	// Timezone is the IANA zone RFC 3164 timestamps (which carry none) are
	// read in. Default: corrd's local zone.
	Timezone string `yaml:"timezone,omitempty"`
	// CiscoIOS names the Cisco IOS header fields the devices on this
	// listener send before the RFC 3164 timestamp: message_counter,
	// sequence_number, hostname. They must match the devices' config.
	CiscoIOS []string `yaml:"cisco_ios,omitempty"`
	// TLS is required with protocol tls and refused otherwise.
	TLS *TLSConfig `yaml:"tls,omitempty"`
	// MaxMessageBytes bounds one message (datagram or frame). Default
	// 8192 for udp, 65536 for tcp and tls.
	MaxMessageBytes int `yaml:"max_message_bytes,omitempty"`
	// MaxConnections bounds concurrent TCP/TLS connections; more are
	// closed at once. Default 1024.
	MaxConnections int `yaml:"max_connections,omitempty"`
	// MaxConnectionsPerSource bounds the concurrent TCP/TLS connections
	// from one source IP address; more from that address are closed at
	// once. Default 32.
	MaxConnectionsPerSource int `yaml:"max_connections_per_source,omitempty"`
	// IdleTimeout closes a TCP/TLS connection that sends nothing (or
	// stalls in a frame) for this long. Default 1m.
	IdleTimeout Duration `yaml:"idle_timeout,omitempty"`
	// Readers is the number of UDP sockets (SO_REUSEPORT), each with its
	// own reading goroutine. Default 0: GOMAXPROCS.
	Readers int `yaml:"readers,omitempty"`
	// Workers parse and extract UDP messages. Default 0: GOMAXPROCS.
	Workers int `yaml:"workers,omitempty"`
	// ReceiveBufferBytes is the UDP socket receive buffer asked of the
	// kernel (SO_RCVBUFFORCE, else SO_RCVBUF capped by
	// net.core.rmem_max). Default 8 MiB.
	ReceiveBufferBytes int `yaml:"receive_buffer_bytes,omitempty"`
	// Unmatched is what happens to a parsed message no extraction rule
	// matches: drop (default) or raw (passed on as a raw event).
	Unmatched Policy `yaml:"unmatched,omitempty"`
	// Malformed is what happens to a message that does not parse: drop
	// (default) or raw.
	Malformed Policy `yaml:"malformed,omitempty"`
	// Extract rules are tried in order; the first that matches makes the
	// event.
	Extract []ExtractRule `yaml:"extract,omitempty"`
}

// TLSConfig is the server side of RFC 5425.
type TLSConfig struct {
	CertFile     string     `yaml:"cert_file"`
	KeyFile      string     `yaml:"key_file"`
	ClientCAFile string     `yaml:"client_ca_file,omitempty"`
	ClientAuth   ClientAuth `yaml:"client_auth,omitempty"`
}

// ExtractRule turns a matching message into an event.
type ExtractRule struct {
	// Match restricts the rule to messages whose header fields match; all
	// given fields must match.
	Match Match `yaml:"match,omitempty"`
	// Regex, when set, must match the message text (unanchored, RE2); its
	// named groups are .Groups in templates.
	Regex string `yaml:"regex,omitempty"`
	// Labels of the event, as templates (see the package documentation).
	// They are added to (and override) the base labels host, app and
	// facility. Labels that expand to "" are left out.
	Labels map[string]string `yaml:"labels,omitempty"`
	// Annotations of the event, as templates; added to the base
	// annotations (message, msgid, procid, syslog_severity).
	Annotations map[string]string `yaml:"annotations,omitempty"`
	// Severity overrides the severity mapped from the syslog severity.
	Severity *ingest.Severity `yaml:"severity,omitempty"`
	// Status is firing (default) or resolved.
	Status *ingest.Status `yaml:"status,omitempty"`
	// Fingerprint lists the labels the fingerprint is computed from.
	// Default: all labels. A resolving rule must name the same labels as
	// the rule whose events it resolves.
	Fingerprint []string `yaml:"fingerprint,omitempty"`
}

// Match holds the header matchers of an extraction rule. App, Host and
// MsgID are fully anchored RE2 expressions (a plain name matches exactly);
// their named groups are .Groups in templates. SD maps "SD-ID.PARAM" to an
// expression of the same kind.
type Match struct {
	App      string            `yaml:"app,omitempty"`
	Host     string            `yaml:"host,omitempty"`
	MsgID    string            `yaml:"msgid,omitempty"`
	Facility string            `yaml:"facility,omitempty"`
	Severity string            `yaml:"severity,omitempty"`
	SD       map[string]string `yaml:"sd,omitempty"`
}

// Protocol is the transport of a listener.
type Protocol string

// The protocols.
const (
	UDP Protocol = "udp"
	TCP Protocol = "tcp"
	TLS Protocol = "tls"
)

// UnmarshalYAML rejects unknown protocols.
func (p *Protocol) UnmarshalYAML(n *yaml.Node) error {
	return decodeEnum(n, (*string)(p), "protocol", "udp", "tcp", "tls")
}

// Format selects the message parser.
type Format string

// The formats.
const (
	FormatAuto    Format = "auto"
	FormatRFC5424 Format = "rfc5424"
	FormatRFC3164 Format = "rfc3164"
)

// UnmarshalYAML rejects unknown formats.
func (f *Format) UnmarshalYAML(n *yaml.Node) error {
	return decodeEnum(n, (*string)(f), "format", "auto", "rfc5424", "rfc3164")
}

// Policy is what happens to messages no rule takes or that do not parse.
type Policy string

// The policies.
const (
	PolicyDrop Policy = "drop"
	PolicyRaw  Policy = "raw"
)

// UnmarshalYAML rejects unknown policies.
func (p *Policy) UnmarshalYAML(n *yaml.Node) error {
	return decodeEnum(n, (*string)(p), "policy", "drop", "raw")
}

// ClientAuth is the client certificate policy of a TLS listener.
type ClientAuth string

// The client certificate policies: none asks for no certificate; request
// verifies one if the client sends it; require refuses clients without a
// valid one.
const (
	ClientAuthNone    ClientAuth = "none"
	ClientAuthRequest ClientAuth = "request"
	ClientAuthRequire ClientAuth = "require"
)

// UnmarshalYAML rejects unknown policies.
func (c *ClientAuth) UnmarshalYAML(n *yaml.Node) error {
	return decodeEnum(n, (*string)(c), "client_auth", "none", "request", "require")
}

func decodeEnum(n *yaml.Node, dst *string, what string, values ...string) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	for _, v := range values {
		if s == v {
			*dst = s
			return nil
		}
	}
	return fmt.Errorf("line %d: unknown %s %q (want one of %s)", n.Line, what, s, strings.Join(values, ", "))
}

// Duration is a time.Duration written as a Go duration string ("5m").
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML renders the duration.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// SetDefaults fills the zero fields of c with their defaults.
func (c *Config) SetDefaults() {
	if c.Protocol == "" {
		c.Protocol = UDP
	}
	if c.Format == "" {
		c.Format = FormatAuto
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytesTCP
		if c.Protocol == UDP {
			c.MaxMessageBytes = DefaultMaxMessageBytesUDP
		}
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxConnectionsPerSource == 0 {
		c.MaxConnectionsPerSource = DefaultMaxConnectionsPerSource
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = Duration(DefaultIdleTimeout)
	}
	if c.ReceiveBufferBytes == 0 {
		c.ReceiveBufferBytes = DefaultReceiveBuffer
	}
	if c.Unmatched == "" {
		c.Unmatched = PolicyDrop
	}
	if c.Malformed == "" {
		c.Malformed = PolicyDrop
	}
	if c.TLS != nil && c.TLS.ClientAuth == "" {
		// A copy: c.TLS may be shared with the caller's configuration,
		// which a reload compares with the new one.
		t := *c.TLS
		t.ClientAuth = ClientAuthNone
		c.TLS = &t
	}
}

var ciscoComponents = []string{"message_counter", "sequence_number", "hostname"}

// Validate reports every problem of c, each prefixed with its path (path
// is c's own, e.g. `ingest.syslog[0] "pos"`). It reads no files. Zero
// values are valid where they take defaults.
func (c *Config) Validate(path string) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	if c.Name == "" {
		add("name", "required")
	} else if !validName(c.Name) {
		add("name", "%q must be letters, digits, '_', '-' or '.'", c.Name)
	}
	if c.Address == "" {
		add("address", "required")
	} else if _, _, err := net.SplitHostPort(c.Address); err != nil {
		add("address", "%v", err)
	}
	if c.Timezone != "" {
		if _, err := time.LoadLocation(c.Timezone); err != nil {
			add("timezone", "%v", err)
		}
	}
	for i, s := range c.CiscoIOS {
		ok := false
		for _, v := range ciscoComponents {
			ok = ok || s == v
		}
		if !ok {
			add(fmt.Sprintf("cisco_ios[%d]", i), "unknown component %q (want %s)", s, strings.Join(ciscoComponents, ", "))
		}
	}
	if len(c.CiscoIOS) > 0 && c.Format == FormatRFC5424 {
		add("cisco_ios", "needs format auto or rfc3164")
	}
	switch {
	case c.Protocol == TLS && c.TLS == nil:
		add("tls", "required with protocol tls")
	case c.Protocol != TLS && c.TLS != nil:
		add("tls", "only with protocol tls")
	case c.TLS != nil:
		if c.TLS.CertFile == "" {
			add("tls.cert_file", "required")
		}
		if c.TLS.KeyFile == "" {
			add("tls.key_file", "required")
		}
		if (c.TLS.ClientAuth == ClientAuthRequest || c.TLS.ClientAuth == ClientAuthRequire) && c.TLS.ClientCAFile == "" {
			add("tls.client_ca_file", "required with client_auth %s", c.TLS.ClientAuth)
		}
	}
	if c.MaxMessageBytes < 0 || c.MaxMessageBytes > MaxMessageBytesLimit {
		add("max_message_bytes", "must be between 0 (default) and %d, got %d", MaxMessageBytesLimit, c.MaxMessageBytes)
	} else if c.MaxMessageBytes > 0 && c.MaxMessageBytes < 480 {
		add("max_message_bytes", "must be at least 480 (RFC 5426), got %d", c.MaxMessageBytes)
	}
	if c.MaxConnections < 0 {
		add("max_connections", "must be >= 0, got %d", c.MaxConnections)
	}
	if c.MaxConnectionsPerSource < 0 {
		add("max_connections_per_source", "must be >= 0, got %d", c.MaxConnectionsPerSource)
	}
	if c.IdleTimeout < 0 {
		add("idle_timeout", "must be >= 0")
	}
	if c.Readers < 0 || c.Readers > 256 {
		add("readers", "must be between 0 and 256, got %d", c.Readers)
	}
	if c.Workers < 0 || c.Workers > 1024 {
		add("workers", "must be between 0 and 1024, got %d", c.Workers)
	}
	if c.ReceiveBufferBytes < 0 {
		add("receive_buffer_bytes", "must be >= 0, got %d", c.ReceiveBufferBytes)
	}
	for i := range c.Extract {
		if _, err := compileRule(&c.Extract[i]); err != nil {
			errs = append(errs, prefixErrors(fmt.Sprintf("%s: extract[%d]", path, i), err))
		}
	}
	return errors.Join(errs...)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func validName(s string) bool { return nameRE.MatchString(s) }

// fieldError is a problem of one field of an extraction rule.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }

// prefixErrors prefixes each error joined in err with prefix and '.'.
func prefixErrors(prefix string, err error) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, len(list))
	for i, e := range list {
		out[i] = fmt.Errorf("%s.%w", prefix, e)
	}
	return errors.Join(out...)
}

// ValidateAll validates a list of listeners and checks that their names
// and addresses are unique. path is the list's own ("ingest.syslog").
func ValidateAll(path string, cfgs []Config) error {
	var errs []error
	names := map[string]int{}
	addrs := map[string]int{}
	for i := range cfgs {
		c := &cfgs[i]
		p := fmt.Sprintf("%s[%d] %q", path, i, c.Name)
		errs = append(errs, c.Validate(p))
		if j, ok := names[c.Name]; ok && c.Name != "" {
			errs = append(errs, fmt.Errorf("%s: name: duplicate of %s[%d]", p, path, j))
		} else {
			names[c.Name] = i
		}
		proto := c.Protocol
		if proto == TLS {
			proto = TCP
		}
		if proto == "" {
			proto = UDP
		}
		key := string(proto) + " " + c.Address
		if j, ok := addrs[key]; ok && !strings.HasSuffix(c.Address, ":0") {
			errs = append(errs, fmt.Errorf("%s: address: %s also used by %s[%d]", p, c.Address, path, j))
		} else {
			addrs[key] = i
		}
	}
	return errors.Join(errs...)
}
