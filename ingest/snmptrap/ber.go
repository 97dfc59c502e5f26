package snmptrap

import "errors"

// header is what the receive path needs of a packet before the full
// decode: enough to reject it cheaply (wrong community, unknown user,
// missing authentication) and to run the USM checks.
type header struct {
	version   int // 0 v1, 1 v2c, 3 v3
	community []byte
	pduTag    byte // v1/v2c only; v3 PDUs may be encrypted

	// v3
	msgFlags   byte
	secModel   int
	engineID   []byte
	boots      int64
	engineTime int64
	userName   []byte
}

var errBER = errors.New("malformed BER")

// The PDU tags of the notifications.
const (
	tagTrapV1   = 0xa4
	tagInform   = 0xa6
	tagTrapV2   = 0xa7
	tagGet      = 0xa0
	flagAuth    = 0x01
	flagPriv    = 0x02
	flagReport  = 0x04
	secModelUSM = 3
)

// berReader reads definite-length BER elements from a byte slice without
// copying.
type berReader struct{ b []byte }

// next returns the next element's tag and content.
func (r *berReader) next() (tag byte, content []byte, err error) {
	b := r.b
	if len(b) < 2 {
		return 0, nil, errBER
	}
	tag = b[0]
	n := int(b[1])
	i := 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < 2+k {
			return 0, nil, errBER
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		i += k
	}
	if n < 0 || n > len(b)-i {
		return 0, nil, errBER
	}
	r.b = b[i+n:]
	return tag, b[i : i+n], nil
}

func (r *berReader) expect(tag byte) ([]byte, error) {
	t, c, err := r.next()
	if err != nil {
		return nil, err
	}
	if t != tag {
		return nil, errBER
	}
	return c, nil
}

func (r *berReader) int() (int64, error) {
	c, err := r.expect(0x02)
	if err != nil {
		return 0, err
	}
	if len(c) == 0 || len(c) > 8 {
		return 0, errBER
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

// parseHeader reads the message header. It does not authenticate.
func parseHeader(pkt []byte) (header, error) {
	var h header
	top := berReader{pkt}
	msg, err := top.expect(0x30)
	if err != nil {
		return h, err
	}
	r := berReader{msg}
	v, err := r.int()
	if err != nil {
		return h, err
	}
	h.version = int(v)
	switch h.version {
	case 0, 1:
		if h.community, err = r.expect(0x04); err != nil {
			return h, err
		}
		tag, _, err := r.next()
		if err != nil {
			return h, err
		}
		h.pduTag = tag
		return h, nil
	case 3:
	default:
		return h, errVersion
	}
	global, err := r.expect(0x30)
	if err != nil {
		return h, err
	}
	g := berReader{global}
	if _, err = g.int(); err != nil { // msgID
		return h, err
	}
	if _, err = g.int(); err != nil { // msgMaxSize
		return h, err
	}
	flags, err := g.expect(0x04)
	if err != nil || len(flags) != 1 {
		return h, errBER
	}
	h.msgFlags = flags[0]
	sm, err := g.int()
	if err != nil {
		return h, err
	}
	h.secModel = int(sm)
	sp, err := r.expect(0x04)
	if err != nil {
		return h, err
	}
	spr := berReader{sp}
	usm, err := spr.expect(0x30)
	if err != nil {
		return h, err
	}
	u := berReader{usm}
	if h.engineID, err = u.expect(0x04); err != nil {
		return h, err
	}
	if h.boots, err = u.int(); err != nil {
		return h, err
	}
	if h.engineTime, err = u.int(); err != nil {
		return h, err
	}
	if h.userName, err = u.expect(0x04); err != nil {
		return h, err
	}
	return h, nil
}

var errVersion = errors.New("unknown SNMP version")
