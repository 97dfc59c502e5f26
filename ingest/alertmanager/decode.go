package alertmanager

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corrd/corrd/ingest"
)

// requestError is a refused request: the HTTP code, the reason counted in
// ingest.Metrics.Rejected and a message for the sender.
type requestError struct {
	code   int
	reason string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(reason, format string, args ...any) *requestError {
	return &requestError{code: http.StatusBadRequest, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// batch is the outcome of decoding one message.
type batch struct {
	events          []ingest.Event
	unknownSeverity int
	truncated       uint64
}

// The message keys read; Alertmanager's others (groupKey, receiver,
// groupLabels, commonLabels, commonAnnotations, externalURL, routeLabels...)
// are skipped: every alert carries its own labels.
var (
	messageKeys = []string{"version", "truncatedAlerts", "alerts"}
	alertKeys   = []string{"status", "labels", "annotations", "startsAt", "endsAt", "fingerprint"}
)

// span locates a label's name and value in decoder.buf.
type span struct{ ns, ne, vs, ve int }

// decoder turns a webhook message into events. It is reused between
// requests and is not safe for concurrent use.
type decoder struct {
	scanner
	name    string
	arrival time.Time

	version   []byte
	truncated uint64
	typeErr   string // first type error outside the alerts

	nAlerts         int
	alertErr        *requestError // of the first refused alert
	unknownSeverity int
	events          []ingest.Event // scratch; the batch gets a copy

	// The alert being read.
	cur struct {
		status           statusField
		startsAt, endsAt timeField
		fingerprint      fingerprintField
		typeErr          string
	}
	buf         []byte // label and annotation text of the alert
	labels      []span
	annotations []span
}

// decode parses one webhook message into events of the source named name
// that arrived at arrival. It refuses the whole message when one alert is
// bad.
func (d *decoder) decode(data []byte, name string, arrival time.Time) (batch, *requestError) {
	d.reset(data)
	d.name, d.arrival = name, arrival
	d.version, d.truncated, d.typeErr = d.version[:0], 0, ""
	d.resetAlerts()
	defer d.resetAlerts() // drop the scratch events' references

	if err := d.document(); err != nil {
		return batch{}, badRequest(reasonJSON, "invalid JSON: %v", err)
	}
	if d.typeErr != "" {
		return batch{}, badRequest(reasonJSON, "invalid JSON: %s", d.typeErr)
	}
	if string(d.version) != "4" {
		return batch{}, badRequest(reasonVersion, "unsupported message version %s, want \"4\"", quoteBounded(d.version))
	}
	if d.nAlerts == 0 {
		return batch{}, badRequest(reasonNoAlerts, "message has no alerts")
	}
	if d.alertErr != nil {
		return batch{}, d.alertErr
	}
	return batch{events: slices.Clone(d.events), unknownSeverity: d.unknownSeverity, truncated: d.truncated}, nil
}

// big reports whether d holds more memory than is worth pooling.
func (d *decoder) big(limit int) bool {
	spans := (cap(d.labels) + cap(d.annotations)) * 32
	return cap(d.events) > maxPooledAlerts || cap(d.buf) > limit || cap(d.str) > limit || cap(d.version) > limit || spans > limit
}

func (d *decoder) resetAlerts() {
	d.nAlerts, d.alertErr, d.unknownSeverity = 0, nil, 0
	clear(d.events)
	d.events = d.events[:0]
}

func quoteBounded(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}

// typeError records the first value of the wrong JSON type outside alerts.
func (d *decoder) typeError(field, want string) {
	if d.typeErr == "" {
		d.typeErr = fmt.Sprintf("%s: want %s, got %s", field, want, kindName(d.peek()))
	}
}

func (d *decoder) document() error {
	d.ws()
	var err error
	switch d.peek() {
	case '{':
		err = d.object(d.messageField)
	case 'n':
		err = d.literal("null")
	default:
		d.typeError("message", "an object")
		err = d.skip()
	}
	if err != nil {
		return err
	}
	d.ws()
	if d.pos < len(d.data) {
		return d.fail("want the end after the message")
	}
	return nil
}

func (d *decoder) messageField(key []byte) error {
	c := d.peek()
	switch field(key, messageKeys) {
	case 0: // version
		switch c {
		case '"':
			v, err := d.string()
			d.version = append(d.version[:0], v...)
			return err
		case 'n':
			return d.literal("null")
		}
		d.typeError("version", "a string")
	case 1: // truncatedAlerts
		switch {
		case c == 'n':
			return d.literal("null")
		case c == '-' || isDigit(c):
			num, err := d.number()
			if err != nil {
				return err
			}
			n, err := strconv.ParseUint(string(num), 10, 64)
			if err != nil {
				d.typeError("truncatedAlerts", "a non-negative integer")
			}
			d.truncated = n
			return nil
		}
		d.typeError("truncatedAlerts", "a non-negative integer")
	case 2: // alerts
		switch c {
		case '[':
			d.resetAlerts()
			return d.array(d.alert)
		case 'n':
			d.resetAlerts()
			return d.literal("null")
		}
		d.typeError("alerts", "an array")
	}
	return d.skip()
}

// refuse records the first refused alert.
func (d *decoder) refuse(e *requestError) {
	if d.alertErr == nil {
		d.alertErr = e
	}
}

func (d *decoder) alert(i int) error {
	d.nAlerts = i + 1
	if d.alertErr != nil {
		return d.skip() // the message is refused already: only check it is JSON
	}
	switch c := d.peek(); c {
	case '{':
	case 'n':
		d.refuse(badRequest(reasonNoLabels, "alerts[%d]: alert has no labels", i))
		return d.literal("null")
	default:
		if err := d.skip(); err != nil {
			return err
		}
		d.refuse(badRequest(reasonJSON, "alerts[%d]: invalid alert: want an object, got %s", i, kindName(c)))
		return nil
	}
	start := d.pos
	d.cur.status, d.cur.startsAt, d.cur.endsAt = statusField{}, timeField{}, timeField{}
	d.cur.fingerprint, d.cur.typeErr = fingerprintField{}, ""
	d.buf, d.labels, d.annotations = d.buf[:0], d.labels[:0], d.annotations[:0]
	if err := d.object(d.alertField); err != nil {
		return err
	}
	d.finishAlert(i, d.data[start:d.pos])
	return nil
}

func (d *decoder) alertField(key []byte) error {
	switch field(key, alertKeys) {
	case 0:
		return rawValue(d, (*statusField).UnmarshalJSON, &d.cur.status)
	case 1:
		return d.pairs(&d.labels, "labels")
	case 2:
		return d.pairs(&d.annotations, "annotations")
	case 3:
		return rawValue(d, (*timeField).UnmarshalJSON, &d.cur.startsAt)
	case 4:
		return rawValue(d, (*timeField).UnmarshalJSON, &d.cur.endsAt)
	case 5:
		return rawValue(d, (*fingerprintField).UnmarshalJSON, &d.cur.fingerprint)
	}
	return d.skip()
}

// rawValue reads a value and hands its JSON text to set.
func rawValue[T any](d *decoder, set func(*T, []byte) error, dst *T) error {
	start := d.pos
	if err := d.skip(); err != nil {
		return err
	}
	return set(dst, d.data[start:d.pos])
}

// pairs reads an object of strings (labels or annotations) into dst, as
// encoding/json reads one into a map: null empties it, a repeated key adds
// to it.
func (d *decoder) pairs(dst *[]span, what string) error {
	switch c := d.peek(); c {
	case '{':
		return d.object(func(key []byte) error {
			sp := span{ns: len(d.buf)}
			d.buf = append(d.buf, key...)
			sp.ne, sp.vs = len(d.buf), len(d.buf)
			switch c := d.peek(); c {
			case '"':
				v, err := d.string()
				if err != nil {
					return err
				}
				d.buf = append(d.buf, v...)
			case 'n':
				if err := d.literal("null"); err != nil {
					return err
				}
			default:
				if d.cur.typeErr == "" {
					d.cur.typeErr = fmt.Sprintf("%s: want string values, got %s", what, kindName(c))
				}
				return d.skip()
			}
			sp.ve = len(d.buf)
			*dst = append(*dst, sp)
			return nil
		})
	case 'n':
		*dst = (*dst)[:0]
		return d.literal("null")
	default:
		if d.cur.typeErr == "" {
			d.cur.typeErr = fmt.Sprintf("%s: want an object of strings, got %s", what, kindName(c))
		}
		return d.skip()
	}
}

// finishAlert checks the alert just read and adds its event.
func (d *decoder) finishAlert(i int, raw []byte) {
	a := &d.cur
	if a.typeErr != "" {
		d.refuse(badRequest(reasonJSON, "alerts[%d]: invalid alert: %s", i, a.typeErr))
		return
	}
	// One string holds the alert's label text, one slice its labels and
	// annotations.
	text := string(d.buf)
	nl := len(d.labels)
	all := make(ingest.Labels, nl+len(d.annotations))
	for k, sp := range d.labels {
		all[k] = ingest.Label{Name: text[sp.ns:sp.ne], Value: text[sp.vs:sp.ve]}
	}
	for k, sp := range d.annotations {
		all[nl+k] = ingest.Label{Name: text[sp.ns:sp.ne], Value: text[sp.vs:sp.ve]}
	}
	labels := normalize(all[:nl:nl])
	switch {
	case len(labels) == 0:
		d.refuse(badRequest(reasonNoLabels, "alerts[%d]: alert has no labels", i))
		return
	case labels.Validate() != nil:
		d.refuse(badRequest(reasonLabelName, "alerts[%d]: %v", i, labels.Validate()))
		return
	case !a.status.ok:
		d.refuse(badRequest(reasonStatus, "alerts[%d]: %s, want status \"firing\" or \"resolved\"", i, &a.status))
		return
	case a.startsAt.err != nil:
		d.refuse(badRequest(reasonTime, "alerts[%d]: invalid startsAt: %v", i, a.startsAt.err))
		return
	case a.endsAt.err != nil:
		d.refuse(badRequest(reasonTime, "alerts[%d]: invalid endsAt: %v", i, a.endsAt.err))
		return
	}
	ev := ingest.Event{
		Kind:        kind,
		Source:      d.name,
		EventTime:   a.startsAt.t,
		ArrivalTime: d.arrival,
		Fingerprint: a.fingerprint.fp,
		Labels:      labels,
		Status:      a.status.status,
		Raw:         ingest.TruncateRaw(raw),
	}
	if ann := normalize(all[nl:]); len(ann) > 0 {
		ev.Annotations = ann
	}
	if ev.Status == ingest.StatusResolved {
		ev.EventTime = a.endsAt.t
	}
	if ev.EventTime.IsZero() {
		ev.EventTime = d.arrival
	}
	if !a.fingerprint.ok {
		ev.Fingerprint = ingest.FingerprintOf(labels)
	}
	var ok bool
	if ev.Severity, ok = ingest.ParseSeverity(labels.Get("severity")); !ok {
		d.unknownSeverity++
	}
	d.events = append(d.events, ev)
}

// normalize sorts ls by name in place, keeps the last of repeated names
// (as a map would) and drops empty values, as ingest.LabelsFromMap does.
func normalize(ls ingest.Labels) ingest.Labels {
	if len(ls) <= 32 {
		for i := 1; i < len(ls); i++ { // insertion sort: stable, and Alertmanager sends sorted labels
			for j := i; j > 0 && ls[j].Name < ls[j-1].Name; j-- {
				ls[j], ls[j-1] = ls[j-1], ls[j]
			}
		}
	} else {
		slices.SortStableFunc(ls, func(a, b ingest.Label) int { return strings.Compare(a.Name, b.Name) })
	}
	out := ls[:0]
	for i, l := range ls {
		if l.Value == "" || i+1 < len(ls) && ls[i+1].Name == l.Name {
			continue
		}
		out = append(out, l)
	}
	return out[:len(out):len(out)]
}
