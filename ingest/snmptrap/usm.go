package snmptrap

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"
)

// user is a configured USM user.
type user struct {
	name      string
	auth      gosnmp.SnmpV3AuthProtocol
	authPass  string
	priv      gosnmp.SnmpV3PrivProtocol
	privPass  string
	msgFlags  gosnmp.SnmpV3MsgFlags
	needsAuth bool
	hasPriv   bool
}

func newUser(u User) *user {
	nu := &user{name: u.Name, auth: gosnmp.NoAuth, priv: gosnmp.NoPriv, msgFlags: gosnmp.NoAuthNoPriv}
	if u.AuthProtocol != "" {
		nu.auth = authProtocols[strings.ToUpper(u.AuthProtocol)]
		nu.authPass = string(u.AuthPassphrase)
		nu.needsAuth = true
		nu.msgFlags = gosnmp.AuthNoPriv
	}
	if u.PrivProtocol != "" {
		nu.priv = privProtocols[strings.ToUpper(u.PrivProtocol)]
		nu.privPass = string(u.PrivPassphrase)
		nu.hasPriv = true
		nu.msgFlags = gosnmp.AuthPriv
	}
	return nu
}

// params returns the user's security parameters localized to engineID.
func (u *user) params(engineID string) (*gosnmp.UsmSecurityParameters, error) {
	sp := &gosnmp.UsmSecurityParameters{
		UserName:                 u.name,
		AuthoritativeEngineID:    engineID,
		AuthenticationProtocol:   u.auth,
		AuthenticationPassphrase: u.authPass,
		PrivacyProtocol:          u.priv,
		PrivacyPassphrase:        u.privPass,
		Logger:                   gosnmp.NewLogger(nil),
	}
	if err := sp.InitSecurityKeys(); err != nil {
		return nil, err
	}
	return sp, nil
}

// maxKeyCache bounds the (user, engine ID) decoders kept; past it the
// cache starts over.
const maxKeyCache = 4096

// keyCache holds a decoder per (user, authoritative engine ID), whose keys
// are localized once: localizing costs a hash over the whole key, and a
// trap receiver sees one engine ID per sending device.
type keyCache struct {
	mu sync.RWMutex
	m  map[string]*gosnmp.GoSNMP
}

func (c *keyCache) get(u *user, engineID []byte) (*gosnmp.GoSNMP, error) {
	k := u.name + "\x00" + string(engineID)
	c.mu.RLock()
	g := c.m[k]
	c.mu.RUnlock()
	if g != nil {
		return g, nil
	}
	sp, err := u.params(string(engineID))
	if err != nil {
		return nil, err
	}
	g = &gosnmp.GoSNMP{
		Version:            gosnmp.Version3,
		SecurityModel:      gosnmp.UserSecurityModel,
		MsgFlags:           u.msgFlags,
		SecurityParameters: sp,
		Logger:             gosnmp.NewLogger(nil),
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxKeyCache {
		c.m = make(map[string]*gosnmp.GoSNMP)
	}
	c.m[k] = g
	c.mu.Unlock()
	return g, nil
}

// engine is this receiver's SNMP engine: the authoritative one for the
// INFORMs sent to it (RFC 3414 section 2.2).
type engine struct {
	id      []byte
	boots   int32
	start   time.Time
	saltCtr atomic.Uint64 // privacy salts of our messages
}

// salt returns a fresh privacy salt (RFC 3826 3.1.2.1 for AES: a 64-bit
// counter; RFC 3414 8.1.1.1 for DES: boots and a 32-bit counter).
func (e *engine) salt(p gosnmp.SnmpV3PrivProtocol) []byte {
	n := e.saltCtr.Add(1)
	b := make([]byte, 8)
	if p == gosnmp.DES {
		binary.BigEndian.PutUint32(b, uint32(e.boots))
		binary.BigEndian.PutUint32(b[4:], uint32(n))
		return b
	}
	binary.BigEndian.PutUint64(b, n)
	return b
}

// newEngine derives engine boots from the start time, so that it grows
// across restarts without stored state.
func newEngine(id []byte, start time.Time) *engine {
	b := start.Unix() - 1_600_000_000
	if b < 1 {
		b = 1
	}
	e := &engine{id: id, boots: int32(b & 0x7fffffff), start: start}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	e.saltCtr.Store(binary.BigEndian.Uint64(seed[:]))
	return e
}

// defaultEngineID builds an RFC 3411 engine ID of format 5 (octets,
// administratively assigned) from a listener name, under the
// net-snmp enterprise number.
func defaultEngineID(name string) []byte {
	h := sha256.Sum256([]byte("corrd snmptrap " + name))
	return append([]byte{0x80, 0x00, 0x1f, 0x88, 0x05}, h[:8]...)
}

func (e *engine) time(now time.Time) int64 { return int64(now.Sub(e.start) / time.Second) }

// maxEngines bounds the remote engines whose boots and time are tracked.
const maxEngines = 65536

// timeliness tracks the boots and time of the remote engines that send
// traps (they are authoritative for them), to refuse replays: RFC 3414
// section 3.2.7 b. The first authentic message of an engine sets its
// clock; later ones must not be older than that clock allows.
type timeliness struct {
	window int64
	mu     sync.Mutex
	m      map[string]engineClock
}

type engineClock struct {
	boots, time int64
	at          time.Time // when time was learned
}

// check reports whether a message with (boots, t) from engine id is in
// the window at now, and learns a newer clock.
func (tl *timeliness) check(id []byte, boots, t int64, now time.Time) bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	c, ok := tl.m[string(id)]
	if ok {
		if boots < c.boots {
			return false
		}
		if boots == c.boots {
			latest := c.time + int64(now.Sub(c.at)/time.Second)
			if t < latest-tl.window {
				return false
			}
		}
	}
	if !ok || boots > c.boots || (boots == c.boots && t > c.time+int64(now.Sub(c.at)/time.Second)) {
		if tl.m == nil || len(tl.m) >= maxEngines {
			tl.m = make(map[string]engineClock)
		}
		tl.m[string(id)] = engineClock{boots: boots, time: t, at: now}
	}
	return true
}

// OIDs of the USM statistics a Report carries (RFC 3414).
const (
	oidUnknownEngineIDs = ".1.3.6.1.6.3.15.1.1.4.0"
	oidNotInTimeWindows = ".1.3.6.1.6.3.15.1.1.2.0"
)

// report builds a Report answering req (a discovery request or an
// authenticated message out of the time window). sp, when not nil,
// authenticates it (the user's parameters localized to our engine).
func (e *engine) report(req *gosnmp.SnmpPacket, oid string, count uint32, sp *gosnmp.UsmSecurityParameters, now time.Time) ([]byte, error) {
	var rsp gosnmp.SnmpV3SecurityParameters
	flags := gosnmp.NoAuthNoPriv
	if sp != nil {
		c := sp.Copy().(*gosnmp.UsmSecurityParameters)
		c.AuthoritativeEngineBoots = uint32(e.boots)
		c.AuthoritativeEngineTime = uint32(e.time(now))
		c.PrivacyProtocol = gosnmp.NoPriv
		rsp = c
		flags = gosnmp.AuthNoPriv
	} else {
		var name string
		if u, ok := req.SecurityParameters.(*gosnmp.UsmSecurityParameters); ok {
			name = u.UserName
		}
		rsp = &gosnmp.UsmSecurityParameters{
			AuthoritativeEngineID:    string(e.id),
			AuthoritativeEngineBoots: uint32(e.boots),
			AuthoritativeEngineTime:  uint32(e.time(now)),
			UserName:                 name,
			Logger:                   gosnmp.NewLogger(nil),
		}
	}
	p := &gosnmp.SnmpPacket{
		Version:            gosnmp.Version3,
		MsgFlags:           flags,
		SecurityModel:      gosnmp.UserSecurityModel,
		SecurityParameters: rsp,
		MsgID:              req.MsgID,
		MsgMaxSize:         65507,
		ContextEngineID:    string(e.id),
		ContextName:        req.ContextName,
		PDUType:            gosnmp.Report,
		RequestID:          req.RequestID,
		Variables:          []gosnmp.SnmpPDU{{Name: oid, Type: gosnmp.Counter32, Value: count}},
	}
	return p.MarshalMsg()
}
