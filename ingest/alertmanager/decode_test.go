package alertmanager

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corrd/corrd/ingest"
)

// The reference decoder: encoding/json into structs. The parser of
// decode.go must read every input as this does (FuzzDecode checks it); it
// is the simple and slow way, about 20 times slower.

type refMessage struct {
	Version         string     `json:"version"`
	TruncatedAlerts uint64     `json:"truncatedAlerts"`
	Alerts          []refAlert `json:"alerts"`
}

type refAlert struct {
	Status      statusField       `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    timeField         `json:"startsAt"`
	EndsAt      timeField         `json:"endsAt"`
	Fingerprint fingerprintField  `json:"fingerprint"`

	raw []byte
	err error
}

type refAlertFields refAlert

// UnmarshalJSON keeps the alert's JSON and records its error, so that the
// error can name the alert.
func (a *refAlert) UnmarshalJSON(data []byte) error {
	*a = refAlert{raw: ingest.TruncateRaw(data)}
	if err := json.Unmarshal(data, (*refAlertFields)(a)); err != nil {
		a.err = err
	}
	return nil
}

func refDecode(data []byte, name string, arrival time.Time) (batch, error) {
	var msg refMessage
	if err := json.Unmarshal(data, &msg); err != nil {
		return batch{}, badRequest(reasonJSON, "invalid JSON: %v", err)
	}
	if msg.Version != "4" {
		return batch{}, badRequest(reasonVersion, "unsupported message version %q", msg.Version)
	}
	if len(msg.Alerts) == 0 {
		return batch{}, badRequest(reasonNoAlerts, "message has no alerts")
	}
	b := batch{events: make([]ingest.Event, len(msg.Alerts)), truncated: msg.TruncatedAlerts}
	for i := range msg.Alerts {
		a := &msg.Alerts[i]
		labels := ingest.LabelsFromMap(a.Labels)
		switch {
		case a.err != nil:
			return batch{}, badRequest(reasonJSON, "alerts[%d]: %v", i, a.err)
		case len(labels) == 0:
			return batch{}, badRequest(reasonNoLabels, "alerts[%d]: no labels", i)
		case labels.Validate() != nil:
			return batch{}, badRequest(reasonLabelName, "alerts[%d]: %v", i, labels.Validate())
		case !a.Status.ok:
			return batch{}, badRequest(reasonStatus, "alerts[%d]: %s", i, &a.Status)
		case a.StartsAt.err != nil:
			return batch{}, badRequest(reasonTime, "alerts[%d]: startsAt: %v", i, a.StartsAt.err)
		case a.EndsAt.err != nil:
			return batch{}, badRequest(reasonTime, "alerts[%d]: endsAt: %v", i, a.EndsAt.err)
		}
		ev := ingest.Event{
			Kind: kind, Source: name, ArrivalTime: arrival, Labels: labels,
			Annotations: ingest.LabelsFromMap(a.Annotations),
			Status:      a.Status.status, EventTime: a.StartsAt.t,
			Fingerprint: a.Fingerprint.fp, Raw: a.raw,
		}
		if ev.Status == ingest.StatusResolved {
			ev.EventTime = a.EndsAt.t
		}
		if ev.EventTime.IsZero() {
			ev.EventTime = arrival
		}
		if !a.Fingerprint.ok {
			ev.Fingerprint = ingest.FingerprintOf(labels)
		}
		var ok bool
		if ev.Severity, ok = ingest.ParseSeverity(labels.Get("severity")); !ok {
			b.unknownSeverity++
		}
		b.events[i] = ev
	}
	return b, nil
}

// checkDecode decodes data with d and with the reference decoder and
// reports any difference, and any event that breaks ingest.Event's rules.
func checkDecode(t *testing.T, d *decoder, data []byte) {
	t.Helper()
	arrival := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	got, re := d.decode(data, "fuzz", arrival)
	want, wantErr := refDecode(data, "fuzz", arrival)
	if re != nil {
		if re.code != 400 || re.msg == "" || !slices.Contains(reasons[:], re.reason) {
			t.Fatalf("decode(%q) error = %#v, want a 400 with a message and a known reason", data, re)
		}
		if wantErr == nil {
			t.Fatalf("decode(%q) error = %v, want none (reference accepts it)", data, re)
		}
		if r := wantErr.(*requestError).reason; re.reason != r {
			t.Fatalf("decode(%q) reason = %s (%v), want %s (%v)", data, re.reason, re, r, wantErr)
		}
		return
	}
	if wantErr != nil {
		t.Fatalf("decode(%q) accepted, want error %v", data, wantErr)
	}
	if len(got.events) == 0 {
		t.Fatalf("decode(%q) = no events and no error", data)
	}
	if len(got.events) != len(want.events) || got.unknownSeverity != want.unknownSeverity || got.truncated != want.truncated {
		t.Fatalf("decode(%q) = %d events, %d unknown severities, %d truncated; want %d, %d, %d", data,
			len(got.events), got.unknownSeverity, got.truncated, len(want.events), want.unknownSeverity, want.truncated)
	}
	for i, ev := range got.events {
		w := want.events[i]
		checkSorted(t, "labels", ev.Labels)
		checkSorted(t, "annotations", ev.Annotations)
		if len(ev.Labels) == 0 {
			t.Errorf("event %d has no labels", i)
		}
		if len(ev.Raw) > ingest.MaxRaw {
			t.Errorf("event %d: raw has %d bytes, want at most %d", i, len(ev.Raw), ingest.MaxRaw)
		}
		if ev.Kind != w.Kind || ev.Source != w.Source || ev.Status != w.Status || ev.Severity != w.Severity ||
			ev.Fingerprint != w.Fingerprint || !ev.EventTime.Equal(w.EventTime) || !ev.ArrivalTime.Equal(w.ArrivalTime) ||
			!ev.Labels.Equal(w.Labels) || !ev.Annotations.Equal(w.Annotations) || !bytes.Equal(ev.Raw, w.Raw) {
			t.Errorf("decode(%q) event %d =\n%+v\nwant\n%+v", data, i, ev, w)
		}
	}
}

func checkSorted(t *testing.T, what string, ls ingest.Labels) {
	t.Helper()
	for i, l := range ls {
		if l.Value == "" {
			t.Errorf("%s %v: empty value of %q", what, ls, l.Name)
		}
		if i > 0 && ls[i-1].Name >= l.Name {
			t.Errorf("%s %v: not sorted with unique names", what, ls)
		}
	}
}

// decodeSeeds are the small testdata messages and inputs at the edges of
// JSON.
func decodeSeeds(t testing.TB) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seeds [][]byte
	for _, f := range files {
		if strings.HasSuffix(f, "firing100.json") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	good := alertJSON(nil)
	for _, s := range []string{
		"", "null", "{}", "[]", `"4"`, " \t\r\n", "{\"version\":\"4\"}x",
		messageJSON(good),
		messageJSON(good, "null", "[]", "1", `"s"`, "true"),
		`{"VERSION":"4","Alerts":[{"STATUS":"firing","Labels":{"a":"1"},"\u212aey":1}],"truncatedalerts":3}`,
		`{"version":"4","alerts":[{"status":"resolved","labels":{"b":"2","a":"1","b":"3","c":""},"labels":{"d":null},"endsAt":"2026-11-22T06:00:00+02:00"}]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":null,"labels":{"a":"x"}}],"alerts":[{"status":"firing","labels":{"z":"1"}}]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":{"a\u00e9\ud83d\ude00\ud800x\\/\"":"\udc00\ud800\ud800\udc00\t"}}]}`,
		"{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\xff\":\"\xe2\x82\",\"\xed\xa0\x80\":\"v\"}}]}",
		`{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"},"startsAt":"2026-11-22T06:00:00.123456789Z","fingerprint":"0123456789ABCDEF"}]}`,
		`{"version":"4","truncatedAlerts":-1,"alerts":[]}`,
		`{"version":"4","truncatedAlerts":1e3,"alerts":[]}`,
		`{"version":"4","truncatedAlerts":18446744073709551616,"alerts":[]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"},"x":[1,-2.5e+3,{"y":[true,false,null]}]}]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"},"x":[01]}]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"},"x":"\x01"}]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"},"x":"\q"}]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"},"x":"\u12"}]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"},"x":tru}]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":{"a":1}}]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":"a"}]}`,
		`{"version":null,"version":"4","alerts":[{"status":null,"labels":{"a":"1"}}]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"},"startsAt":null,"endsAt":"x"}]}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// bigSeeds are too big to fuzz from: the fuzzer spends its time minimising
// what it derives from them. They nest to encoding/json's limit.
var bigSeeds = []string{
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"},"x":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}]}`,
	`{"version":"4","alerts":[{"status":"firing","labels":{"a":"1"},"x":` + strings.Repeat("[", 9997) + strings.Repeat("]", 9997) + `}]}`,
}

func TestDecodeMatchesReference(t *testing.T) {
	var d decoder
	seeds := append(decodeSeeds(t), []byte(readTestdata(t, "firing100.json")))
	for _, s := range bigSeeds {
		seeds = append(seeds, []byte(s))
	}
	for i, s := range seeds {
		t.Run(strings.Map(func(r rune) rune {
			if r < 0x20 || r > 0x7e {
				return '_'
			}
			return r
		}, string(s[:min(len(s), 40)]))+"#"+string(rune('a'+i%26)), func(t *testing.T) {
			checkDecode(t, &d, s)
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds(f) {
		f.Add(s)
	}
	var d decoder // reused, as the pooled ones are
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, &d, data)
	})
}
