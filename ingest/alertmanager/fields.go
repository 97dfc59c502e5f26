package alertmanager

// The alert fields decoded from their raw JSON value, by encoding/json's
// rules: status and fingerprint must be exact JSON strings (no escapes);
// times are read by time.Time.UnmarshalJSON.

import (
	"bytes"
	"fmt"
	"time"

	"github.com/corrd/corrd/ingest"
)

// statusField is an alert's status, read without allocating.
type statusField struct {
	status ingest.Status
	ok     bool
	bad    []byte // the unknown value, bounded
}

func (f *statusField) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"firing"`:
		*f = statusField{status: ingest.StatusFiring, ok: true}
	case `"resolved"`:
		*f = statusField{status: ingest.StatusResolved, ok: true}
	default:
		*f = statusField{bad: bounded(b)}
	}
	return nil
}

func (f *statusField) String() string {
	if f.bad == nil {
		return "status missing"
	}
	return "unknown status " + string(f.bad)
}

// timeField is an RFC 3339 time; null leaves it zero.
type timeField struct {
	t   time.Time
	err error
}

func (f *timeField) UnmarshalJSON(b []byte) error {
	*f = timeField{}
	if string(b) == "null" {
		return nil
	}
	if err := f.t.UnmarshalJSON(b); err != nil {
		f.err = fmt.Errorf("%s is not an RFC 3339 time", bounded(b))
	}
	return nil
}

// fingerprintField is Alertmanager's fingerprint, 16 hex digits; anything
// else leaves it unset and the fingerprint is computed from the labels.
type fingerprintField struct {
	fp uint64
	ok bool
}

func (f *fingerprintField) UnmarshalJSON(b []byte) error {
	*f = fingerprintField{}
	if len(b) != 18 || b[0] != '"' || b[17] != '"' {
		return nil
	}
	var fp uint64
	for _, c := range b[1:17] {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return nil
		}
		fp = fp<<4 | uint64(d)
	}
	*f = fingerprintField{fp: fp, ok: true}
	return nil
}

// bounded returns a copy of at most 64 bytes of b, for error messages.
func bounded(b []byte) []byte {
	const max = 64
	if len(b) > max {
		return append(bytes.Clone(b[:max]), "..."...)
	}
	return bytes.Clone(b)
}
