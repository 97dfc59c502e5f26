package alertmanager

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// alertJSON is a valid firing alert with the given fields replaced or
// added (name -> raw JSON value, "" to drop the field).
func alertJSON(fields map[string]string) string {
	base := []struct{ name, value string }{
		{"status", `"firing"`},
		{"labels", `{"alertname":"StoreLinkDown","store":"0412","severity":"critical"}`},
		{"annotations", `{"summary":"link down"}`},
		{"startsAt", `"2026-11-22T06:38:45.123Z"`},
		{"endsAt", `"0001-01-01T00:00:00Z"`},
		{"generatorURL", `"http://prometheus.example.net:9090/graph"`},
		{"fingerprint", `"16543c7fcf04e7f0"`},
	}
	var b strings.Builder
	b.WriteByte('{')
	sep := ""
	for _, f := range base {
		v, ok := fields[f.name]
		if !ok {
			v = f.value
		}
		if v == "" {
			continue
		}
		b.WriteString(sep + strconv.Quote(f.name) + ":" + v)
		sep = ","
	}
	b.WriteByte('}')
	return b.String()
}

// messageJSON wraps alerts in a version 4 message.
func messageJSON(alerts ...string) string {
	return `{"receiver":"corrd","status":"firing","version":"4","groupKey":"{}:{alertname=\"StoreLinkDown\"}","truncatedAlerts":0,"alerts":[` +
		strings.Join(alerts, ",") + `]}`
}

func TestReceiverRejects(t *testing.T) {
	good := alertJSON(nil)
	tests := []struct {
		name        string
		method      string
		contentType string // "-" for none
		body        string
		maxBody     int64
		code        int
		reason      string
		errContains string
	}{
		{name: "GET", method: http.MethodGet, code: 405, reason: reasonMethod, errContains: "method GET"},
		{name: "PUT", method: http.MethodPut, body: messageJSON(good), code: 405, reason: reasonMethod, errContains: "use POST"},
		{name: "form content type", contentType: "application/x-www-form-urlencoded", body: messageJSON(good),
			code: 415, reason: reasonMediaType, errContains: "not JSON"},
		{name: "text content type", contentType: "text/plain", body: messageJSON(good), code: 415, reason: reasonMediaType},
		{name: "unparsable content type", contentType: "application/json; =", body: messageJSON(good), code: 415, reason: reasonMediaType},
		{name: "too large", body: messageJSON(good, good, good), maxBody: 300, code: 413, reason: reasonTooLarge, errContains: "larger than 300 bytes"},
		{name: "empty body", body: "", code: 400, reason: reasonJSON, errContains: "invalid JSON"},
		{name: "truncated JSON", body: messageJSON(good)[:40], code: 400, reason: reasonJSON, errContains: "unexpected end"},
		{name: "not an object", body: `[1,2]`, code: 400, reason: reasonJSON, errContains: "message: want an object, got array"},
		{name: "trailing garbage", body: messageJSON(good) + "x", code: 400, reason: reasonJSON, errContains: "invalid JSON"},
		{name: "alerts not an array", body: `{"version":"4","alerts":{}}`, code: 400, reason: reasonJSON, errContains: "alerts"},
		{name: "version 3", body: strings.Replace(messageJSON(good), `"version":"4"`, `"version":"3"`, 1),
			code: 400, reason: reasonVersion, errContains: `version "3"`},
		{name: "no version", body: `{"alerts":[` + good + `]}`, code: 400, reason: reasonVersion, errContains: `version ""`},
		{name: "version as number", body: `{"version":4,"alerts":[` + good + `]}`, code: 400, reason: reasonJSON, errContains: "version"},
		{name: "no alerts", body: messageJSON(), code: 400, reason: reasonNoAlerts, errContains: "no alerts"},
		{name: "null alerts", body: `{"version":"4","alerts":null}`, code: 400, reason: reasonNoAlerts},
		{name: "alert without labels", body: messageJSON(good, alertJSON(map[string]string{"labels": ""})),
			code: 400, reason: reasonNoLabels, errContains: "alerts[1]: alert has no labels"},
		{name: "alert with empty labels", body: messageJSON(alertJSON(map[string]string{"labels": `{}`})), code: 400, reason: reasonNoLabels},
		{name: "alert with only empty label values", body: messageJSON(alertJSON(map[string]string{"labels": `{"a":""}`})),
			code: 400, reason: reasonNoLabels},
		{name: "empty label name", body: messageJSON(good, alertJSON(map[string]string{"labels": `{"alertname":"X","":"forged"}`})),
			code: 400, reason: reasonLabelName, errContains: `alerts[1]: invalid label name ""`},
		{name: "null alert", body: messageJSON(good, "null"), code: 400, reason: reasonNoLabels, errContains: "alerts[1]"},
		{name: "alert is a string", body: messageJSON(`"x"`), code: 400, reason: reasonJSON, errContains: "alerts[0]"},
		{name: "label value a number", body: messageJSON(alertJSON(map[string]string{"labels": `{"a":1}`})),
			code: 400, reason: reasonJSON, errContains: "alerts[0]: invalid alert: labels"},
		{name: "unknown status", body: messageJSON(good, good, alertJSON(map[string]string{"status": `"pending"`})),
			code: 400, reason: reasonStatus, errContains: `alerts[2]: unknown status "pending"`},
		{name: "missing status", body: messageJSON(alertJSON(map[string]string{"status": ""})), code: 400, reason: reasonStatus, errContains: "alerts[0]: status missing"},
		{name: "status in capitals", body: messageJSON(alertJSON(map[string]string{"status": `"FIRING"`})), code: 400, reason: reasonStatus},
		{name: "status a number", body: messageJSON(alertJSON(map[string]string{"status": `1`})), code: 400, reason: reasonStatus},
		{name: "invalid startsAt", body: messageJSON(alertJSON(map[string]string{"startsAt": `"yesterday"`})),
			code: 400, reason: reasonTime, errContains: `alerts[0]: invalid startsAt: "yesterday" is not an RFC 3339 time`},
		{name: "startsAt without zone", body: messageJSON(alertJSON(map[string]string{"startsAt": `"2026-11-22T06:38:45"`})),
			code: 400, reason: reasonTime, errContains: "startsAt"},
		{name: "startsAt a number", body: messageJSON(alertJSON(map[string]string{"startsAt": `1700000000`})),
			code: 400, reason: reasonTime, errContains: "startsAt"},
		{name: "invalid endsAt", body: messageJSON(alertJSON(map[string]string{"endsAt": `"2026-13-01T00:00:00Z"`})),
			code: 400, reason: reasonTime, errContains: "invalid endsAt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{MaxBodyBytes: tt.maxBody})
			w := h.post(tt.body, func(r *http.Request) {
				if tt.method != "" {
					r.Method = tt.method
				}
				switch tt.contentType {
				case "":
				case "-":
					r.Header.Del("Content-Type")
				default:
					r.Header.Set("Content-Type", tt.contentType)
				}
			})
			if w.Code != tt.code {
				t.Errorf("code = %d (%s), want %d", w.Code, w.Body, tt.code)
			}
			checkErrorBody(t, w, tt.errContains)
			if got := h.rejected(tt.reason); got != 1 {
				t.Errorf("rejected{reason=%s} = %v, want 1", tt.reason, got)
			}
			if got := h.requests(tt.code); got != 1 {
				t.Errorf("requests{code=%d} = %v, want 1", tt.code, got)
			}
			if h.sub.calls != 0 {
				t.Errorf("%d submits, want 0 (a refused request submits nothing)", h.sub.calls)
			}
			if got := h.received(); got != 0 {
				t.Errorf("received = %v, want 0", got)
			}
			if tt.code == http.StatusMethodNotAllowed {
				if got := w.Header().Get("Allow"); got != http.MethodPost {
					t.Errorf("Allow = %q, want POST", got)
				}
			}
		})
	}
}

func TestReceiverAcceptsContentTypes(t *testing.T) {
	for _, ct := range []string{"-", "application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.alertmanager+json"} {
		t.Run(ct, func(t *testing.T) {
			h := newHarness(t, Config{})
			w := h.post(messageJSON(alertJSON(nil)), func(r *http.Request) {
				if ct == "-" {
					r.Header.Del("Content-Type")
				} else {
					r.Header.Set("Content-Type", ct)
				}
			})
			if w.Code != http.StatusOK {
				t.Errorf("code = %d (%s), want 200", w.Code, w.Body)
			}
		})
	}
}

// A request refused for a later alert submits none of the earlier ones, and
// the pooled state it leaves behind does not leak into the next request.
func TestReceiverAtomicAndReuse(t *testing.T) {
	h := newHarness(t, Config{})
	big := alertJSON(map[string]string{"labels": `{"alertname":"X","a":"1","b":"2","c":"3"}`, "annotations": `{"s":"t"}`})
	bad := alertJSON(map[string]string{"status": `"unknown"`})
	if w := h.post(messageJSON(big, big, bad), nil); w.Code != http.StatusBadRequest {
		t.Fatalf("code = %d, want 400", w.Code)
	}
	for range 3 {
		small := alertJSON(map[string]string{"labels": `{"alertname":"Y"}`, "annotations": ""})
		if w := h.post(messageJSON(small), nil); w.Code != http.StatusOK {
			t.Fatalf("code = %d (%s), want 200", w.Code, w.Body)
		}
	}
	if h.sub.calls != 3 {
		t.Fatalf("%d submits, want 3", h.sub.calls)
	}
	for _, b := range h.sub.batches {
		if len(b) != 1 {
			t.Fatalf("%d events, want 1", len(b))
		}
		if got, want := b[0].Labels.String(), `{alertname="Y"}`; got != want {
			t.Errorf("labels = %s, want %s", got, want)
		}
		if len(b[0].Annotations) != 0 {
			t.Errorf("annotations = %s, want none", b[0].Annotations)
		}
	}
}
