package snmptrap

import (
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"

	"github.com/corrd/corrd/ingest"
)

// maxVarbindLabels bounds the labels a trap's varbinds become.
const maxVarbindLabels = 32

// decoder turns datagrams into events. It is immutable once built, except
// for its caches, and safe for concurrent use.
type decoder struct {
	name        string
	communities [][]byte
	users       map[string]*user
	engine      *engine
	mib         *MIB
	traps       *trapTable
	device      deviceFrom
	dropUnknown bool
	window      int64

	keys        keyCache
	remote      timeliness
	v12         *gosnmp.GoSNMP
	probe       *gosnmp.GoSNMP
	unknownEIDs atomic.Uint32
	notInTime   atomic.Uint32
}

// result is the outcome of decoding one datagram.
type result struct {
	ev      ingest.Event
	ok      bool   // ev is set
	version string // v1, v2c, v3 when ok
	reply   []byte // a Response or Report to send back
	inform  bool   // reply acknowledges an INFORM
	discov  bool   // reply answers an engine-ID discovery
	unknown bool   // accepted, but no trap definition matched
	reason  string // why the packet was refused; "" when accepted
}

func newDecoder(cfg *Config, mib *MIB, traps *trapTable, now time.Time) (*decoder, error) {
	d := &decoder{
		name:        cfg.Name,
		users:       map[string]*user{},
		mib:         mib,
		traps:       traps,
		dropUnknown: cfg.Unknown == "drop",
		window:      int64(cfg.TimeWindowSeconds),
	}
	if d.window == 0 {
		d.window = 150
	}
	d.remote.window = d.window
	for _, c := range cfg.Communities {
		d.communities = append(d.communities, []byte(c))
	}
	for _, u := range cfg.Users {
		d.users[u.Name] = newUser(u)
	}
	var err error
	if d.device, err = parseDeviceFrom(cfg.DeviceFrom); err != nil {
		return nil, err
	}
	id := defaultEngineID(cfg.Name)
	if cfg.EngineID != "" {
		if id, err = parseEngineID(cfg.EngineID); err != nil {
			return nil, err
		}
	}
	d.engine = newEngine(id, now)
	d.v12 = &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	d.probe = &gosnmp.GoSNMP{
		Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.NoAuthNoPriv,
		SecurityParameters: &gosnmp.UsmSecurityParameters{Logger: gosnmp.NewLogger(nil)},
		Logger:             gosnmp.NewLogger(nil),
	}
	return d, nil
}

// decode handles one datagram; pkt is owned by the call and may be
// modified (gosnmp decrypts v3 packets in place).
func (d *decoder) decode(pkt []byte, src netip.AddrPort, now time.Time) result {
	h, err := parseHeader(pkt)
	if err != nil {
		if errors.Is(err, errVersion) {
			return result{reason: reasonVersion}
		}
		return result{reason: reasonMalformed}
	}
	switch h.version {
	case 0, 1:
		return d.decodeCommunity(pkt, h, src, now)
	}
	return d.decodeV3(pkt, h, src, now)
}

func (d *decoder) decodeCommunity(pkt []byte, h header, src netip.AddrPort, now time.Time) result {
	ok := false
	for _, c := range d.communities {
		if subtle.ConstantTimeCompare(c, h.community) == 1 {
			ok = true
		}
	}
	if !ok {
		return result{reason: reasonCommunity}
	}
	switch {
	case h.version == 0 && h.pduTag == tagTrapV1:
	case h.version == 1 && (h.pduTag == tagTrapV2 || h.pduTag == tagInform):
	default:
		return result{reason: reasonPDU}
	}
	raw := ingest.TruncateRaw(pkt)
	p, err := d.v12.UnmarshalTrap(pkt, false)
	if err != nil {
		return result{reason: reasonMalformed}
	}
	res := result{version: "v2c"}
	if h.version == 0 {
		res.version = "v1"
	}
	if p.PDUType == gosnmp.InformRequest {
		p.PDUType = gosnmp.GetResponse
		p.Error, p.ErrorIndex = gosnmp.NoError, 0
		if res.reply, err = p.MarshalMsg(); err == nil {
			res.inform = true
		}
		p.PDUType = gosnmp.InformRequest
	}
	return d.event(res, p, raw, src, now)
}

func (d *decoder) decodeV3(pkt []byte, h header, src netip.AddrPort, now time.Time) result {
	if h.secModel != secModelUSM {
		return result{reason: reasonSecModel}
	}
	if len(d.users) == 0 {
		return result{reason: reasonUnknownUser}
	}
	// Engine-ID discovery (RFC 3414 section 4): answer with our engine's
	// ID, boots and time, so that the sender can send us INFORMs.
	if len(h.engineID) == 0 && h.msgFlags&(flagAuth|flagPriv) == 0 {
		if h.msgFlags&flagReport == 0 {
			return result{reason: reasonUnknownEngine}
		}
		p, err := d.probe.UnmarshalTrap(pkt, true)
		if err != nil {
			return result{reason: reasonMalformed}
		}
		rep, err := d.engine.report(p, oidUnknownEngineIDs, d.unknownEIDs.Add(1), nil, now)
		if err != nil {
			return result{reason: reasonMalformed}
		}
		return result{reply: rep, discov: true, reason: reasonUnknownEngine}
	}
	u := d.users[string(h.userName)]
	if u == nil {
		return result{reason: reasonUnknownUser}
	}
	authed, privd := h.msgFlags&flagAuth != 0, h.msgFlags&flagPriv != 0
	if (u.needsAuth && !authed) || (!u.needsAuth && authed) || (privd && !u.hasPriv) || (privd && !authed) {
		return result{reason: reasonSecLevel}
	}
	if len(h.engineID) < 5 || len(h.engineID) > 32 {
		return result{reason: reasonUnknownEngine}
	}
	g, err := d.keys.get(u, h.engineID)
	if err != nil {
		return result{reason: reasonMalformed}
	}
	raw := ingest.TruncateRaw(pkt) // before gosnmp rewrites pkt
	p, err := g.UnmarshalTrap(pkt, true)
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "not authentic"):
			return result{reason: reasonDigest}
		case errors.Is(err, gosnmp.ErrDecryption), strings.Contains(msg, "decrypt"):
			return result{reason: reasonDecrypt}
		case strings.Contains(msg, "not authenticated"), strings.Contains(msg, "unknown user"):
			return result{reason: reasonSecLevel}
		}
		if privd {
			// A wrong privacy key decrypts to garbage.
			return result{reason: reasonDecrypt}
		}
		return result{reason: reasonMalformed}
	}
	ours := bytes.Equal(h.engineID, d.engine.id)
	if ours {
		// We are authoritative: the message must be in our time window.
		if !u.needsAuth {
			// noAuthNoPriv messages carry no trustworthy time.
		} else if int32(h.boots) != d.engine.boots || abs(h.engineTime-d.engine.time(now)) > d.window {
			sp, _ := p.SecurityParameters.(*gosnmp.UsmSecurityParameters)
			var rep []byte
			if h.msgFlags&flagReport != 0 && sp != nil {
				rep, _ = d.engine.report(p, oidNotInTimeWindows, d.notInTime.Add(1), sp, now)
			}
			return result{reply: rep, reason: reasonTimeWindow}
		}
	} else if u.needsAuth && !d.remote.check(h.engineID, h.boots, h.engineTime, now) {
		return result{reason: reasonTimeWindow}
	}
	switch p.PDUType {
	case gosnmp.SNMPv2Trap:
	case gosnmp.InformRequest:
		if !ours {
			// An INFORM's authoritative engine is the receiver.
			return result{reason: reasonUnknownEngine}
		}
	default:
		return result{reason: reasonPDU}
	}
	res := result{version: "v3"}
	if p.PDUType == gosnmp.InformRequest {
		if sp, ok := p.SecurityParameters.(*gosnmp.UsmSecurityParameters); ok {
			sp.AuthoritativeEngineBoots = uint32(d.engine.boots)
			sp.AuthoritativeEngineTime = uint32(d.engine.time(now))
			if privd {
				// Never encrypt with the sender's salt: a fresh one.
				sp.PrivacyParameters = d.engine.salt(u.priv)
			}
		}
		p.PDUType = gosnmp.GetResponse
		p.MsgFlags &^= gosnmp.Reportable
		p.Error, p.ErrorIndex = gosnmp.NoError, 0
		if res.reply, err = p.MarshalMsg(); err == nil {
			res.inform = true
		}
		p.PDUType = gosnmp.InformRequest
	}
	return d.event(res, p, raw, src, now)
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// The varbinds of the notification header (RFC 3416 4.2.6, RFC 3584).
const (
	oidSysUpTime     = "1.3.6.1.2.1.1.3.0"
	oidTrapOID       = "1.3.6.1.6.3.1.1.4.1.0"
	oidTrapEnterpris = "1.3.6.1.6.3.1.1.4.3.0"
	oidTrapAddress   = "1.3.6.1.6.3.18.1.3.0"
	oidGenericTraps  = "1.3.6.1.6.3.1.1.5."
)

// trapOIDv1 maps a v1 trap to its SNMPv2 trap OID (RFC 3584 3.1).
func trapOIDv1(t gosnmp.SnmpTrap) string {
	if t.GenericTrap >= 0 && t.GenericTrap < 6 {
		return oidGenericTraps + strconv.Itoa(t.GenericTrap+1)
	}
	return strings.TrimPrefix(t.Enterprise, ".") + ".0." + strconv.Itoa(t.SpecificTrap)
}

// event builds the event of a decoded notification.
func (d *decoder) event(res result, p *gosnmp.SnmpPacket, raw []byte, src netip.AddrPort, now time.Time) result {
	var trapOID, agent, uptime string
	labels := make(ingest.Labels, 0, 8+len(p.Variables))
	if p.Version == gosnmp.Version1 {
		trapOID = trapOIDv1(p.SnmpTrap)
		if a := p.AgentAddress; a != "" && a != "0.0.0.0" {
			agent = a
		}
		uptime = strconv.FormatUint(uint64(p.Timestamp), 10)
	}
	nvb := 0
	for _, v := range p.Variables {
		oid := strings.TrimPrefix(v.Name, ".")
		switch oid {
		case oidTrapOID:
			if s, ok := v.Value.(string); ok {
				trapOID = strings.TrimPrefix(s, ".")
			}
			continue
		case oidSysUpTime:
			uptime = d.value(v, nil)
			continue
		case oidTrapEnterpris:
			continue
		case oidTrapAddress:
			if agent == "" {
				agent = d.value(v, nil)
			}
			continue
		}
		if nvb >= maxVarbindLabels {
			continue
		}
		nvb++
		obj, _ := d.mib.Lookup(oid)
		var name string
		if obj != nil {
			name = obj.label
		} else {
			name = "oid_" + strings.ReplaceAll(oid, ".", "_")
		}
		labels = append(labels, ingest.Label{Name: name, Value: d.value(v, obj)})
	}
	if trapOID == "" {
		return result{reason: reasonPDU}
	}
	def := d.traps.lookup(trapOID)
	if def == nil {
		if d.dropUnknown {
			return result{reason: reasonUnknownTrap}
		}
	}
	trapName := trapOID
	if o := d.mib.Exact(trapOID); o != nil {
		trapName = o.Name
	}

	var device string
	switch d.device.kind {
	case "agent":
		device = agent
	case "varbind":
		device = labels.Get(d.device.varbind)
	}
	if device == "" {
		device = src.Addr().Unmap().String()
	}
	sev := ingest.SeverityUnknown
	status := ingest.StatusFiring
	alert := trapName
	if def != nil {
		trapName = def.name
		alert = def.alert
		sev = def.severity
		if def.clear {
			status = ingest.StatusResolved
		}
		if def.category != "" {
			labels = append(labels, ingest.Label{Name: "category", Value: def.category})
		}
	}
	// Fixed labels go first so that they win over varbinds of the same
	// name in Sort (which keeps the first of a name).
	fixed := ingest.Labels{
		{Name: "alertname", Value: alert},
		{Name: "device", Value: device},
		{Name: "severity", Value: sev.String()},
		{Name: "trap", Value: trapName},
	}
	if def != nil {
		fixed = append(fixed, def.labels...)
	}
	labels = sortLabels(append(fixed, labels...))

	var fp uint64
	if def != nil && len(def.fingerprint) > 0 {
		sub := make(ingest.Labels, 0, len(def.fingerprint))
		for _, n := range def.fingerprint {
			if v := labels.Get(n); v != "" {
				sub = append(sub, ingest.Label{Name: n, Value: v})
			}
		}
		fp = ingest.FingerprintOf(sub)
	} else {
		var sub ingest.Labels
		for _, l := range labels {
			if l.Name != "severity" {
				sub = append(sub, l)
			}
		}
		fp = ingest.FingerprintOf(sub)
	}
	ann := ingest.Labels{
		{Name: "snmp_version", Value: res.version},
		{Name: "source_address", Value: src.String()},
		{Name: "trap_oid", Value: trapOID},
	}
	if def != nil && def.description != "" {
		ann = append(ann, ingest.Label{Name: "description", Value: def.description})
	}
	if uptime != "" {
		ann = append(ann, ingest.Label{Name: "uptime", Value: uptime})
	}
	slices.SortFunc(ann, func(a, b ingest.Label) int { return strings.Compare(a.Name, b.Name) })
	res.ev = ingest.Event{
		Kind:        kind,
		Source:      d.name,
		EventTime:   now,
		ArrivalTime: now,
		Fingerprint: fp,
		Labels:      labels,
		Annotations: ann,
		Severity:    sev,
		Status:      status,
		Raw:         raw,
	}
	res.ok = true
	res.unknown = def == nil
	return res
}

// sortLabels sorts ls by name, keeping the first label of a name and
// dropping empty values, as ingest.Labels.Sort does, without reflection.
func sortLabels(ls ingest.Labels) ingest.Labels {
	slices.SortStableFunc(ls, func(a, b ingest.Label) int { return strings.Compare(a.Name, b.Name) })
	out := ls[:0]
	for i, l := range ls {
		if l.Value == "" || (i > 0 && l.Name == ls[i-1].Name) {
			continue
		}
		out = append(out, l)
	}
	return out
}

func sanitizeLabel(s string) string {
	if labelName.MatchString(s) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && c >= '0' && c <= '9')) {
			b[i] = '_'
		}
	}
	return string(b)
}

// value renders a varbind's value: enum values by name, printable octet
// strings as text, others in hex, OIDs by MIB name.
func (d *decoder) value(v gosnmp.SnmpPDU, obj *Object) string {
	switch v.Type {
	case gosnmp.Integer:
		var n int64
		switch x := v.Value.(type) {
		case int:
			n = int64(x)
		default:
			n = gosnmp.ToBigInt(x).Int64()
		}
		if obj != nil && obj.Enum != nil {
			if s, ok := obj.Enum[n]; ok {
				return s
			}
		}
		return strconv.FormatInt(n, 10)
	case gosnmp.OctetString, gosnmp.Opaque, gosnmp.BitString:
		b, _ := v.Value.([]byte)
		if printable(b) {
			return string(b)
		}
		return "0x" + hex.EncodeToString(b)
	case gosnmp.ObjectIdentifier:
		s, _ := v.Value.(string)
		s = strings.TrimPrefix(s, ".")
		if o := d.mib.Exact(s); o != nil {
			return o.Name
		}
		return s
	case gosnmp.IPAddress:
		switch x := v.Value.(type) {
		case string:
			return x
		case []byte:
			return net.IP(x).String()
		}
	case gosnmp.Null, gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView:
		return ""
	}
	switch x := v.Value.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	case uint:
		return strconv.FormatUint(uint64(x), 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int:
		return strconv.Itoa(x)
	default:
		return fmt.Sprint(gosnmp.ToBigInt(x))
	}
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range string(b) {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return true
}
