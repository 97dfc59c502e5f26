// Package webhook delivers incident changes to an HTTP endpoint, one POST per
// change.
//
// # Body
//
// Without a template the body is one JSON document, schema version "1": the
// correlator.Change object with a "version" field in front. The same
// document is what the jsonl backend writes, one per line.
//
//	{
//	  "version": "1",
//	  "type": "opened",            // opened, updated, priority_changed, resolved, reopened, closed
//	  "at": "2026-03-01T10:04:05Z", // RFC 3339 time of the change
//	  "incident": {                 // the snapshot after the change
//	    "id": "inc-0123456789abcdef",
//	    "rule": "fleet",
//	    "group_key": "{site=\"s042\"}",
//	    "group_labels": {"site": "s042"},
//	    "common_labels": {"site": "s042", "team": "net"},
//	    "title": "...", "description": "...",
//	    "status": "open",           // open, resolved, closed
//	    "priority": 2, "priority_name": "high",
//	    "impact": "medium", "urgency": "high",
//	    "severity": "major",         // unknown, info, warning, minor, major, critical
//	    "category": "network",       // omitted when empty
//	    "assignment_group": "noc",   // omitted when empty
//	    "signals": [{"fingerprint": "...", "kind": "alertmanager", "source": "am",
//	                 "labels": {...}, "annotations": {...}, "severity": "major",
//	                 "status": "firing", "starts_at": "...", "last_seen": "...",
//	                 "resolved_at": "...", "count": 3, "absorbed": true}],
//	    "signal_count": 1, "firing_count": 1, "event_count": 3,
//	    "breadth": {"store": 12},
//	    "first_seen": "...", "last_seen": "...", "opened_at": "...",
//	    "resolved_at": "...", "closed_at": "...",   // when set
//	    "parent": "inc-...", "children": ["inc-..."], // when set
//	    "revision": 1                // +1 with every change of the incident
//	  },
//	  "previous_priority": 3,        // only on priority_changed
//	  "detail": "response",          // when set: the SLA clock of sla_*, the group
//	                                 // escalated to; on an updated that stands for
//	                                 // several, "... (3 updates coalesced)"
//	  "seq": 1234                    // the change's place in the durable outbox, when set
//	}
//
// A receiver must ignore fields it does not know: fields may be added within
// a version; the version changes only when a field changes meaning or goes
// away.
//
// # Headers
//
// Every request carries Content-Type (content_type, default
// application/json), User-Agent "corrd", Idempotency-Key
// "<incident id>-<revision>" ("<problem id>-<revision>" for problem
// changes; the same for every retry of one change, so a receiver can drop
// duplicates), the configured headers, and Authorization
// from bearer_token or basic_auth.
//
// # Template
//
// template replaces the default body with a Go text/template executed over
// the correlator.Change ({{.Type}}, {{.At}}, {{.Incident.ID}},
// {{.Incident.Title}}, {{.PreviousPriority}}...). The function json renders
// its argument as JSON, for building JSON bodies safely:
//
//	{"short_description": {{json .Incident.Title}}, "urgency": {{.Incident.Priority}}}
//
// # Results
//
// A 2xx response is a success. 408, 429, 5xx and transport errors
// (including the per-request timeout) may succeed if retried; their error
// carries the delay a Retry-After header asked for (delta-seconds or an HTTP
// date) through a RetryAfter() time.Duration method. Every other status is
// permanent. At most 64 KiB of a response body are read.
package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/template"
	"time"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/outputs/internal/schema"
)

// DefaultTimeout bounds one request when the config sets no timeout.
const DefaultTimeout = 10 * time.Second

// maxResponseBody bounds how much of a response body is read.
const maxResponseBody = 64 << 10

// Sink posts changes to one URL. It is safe for concurrent use.
type Sink struct {
	name    string
	url     string
	target  string // url without userinfo and query, for messages
	timeout time.Duration
	header  http.Header
	tmpl    *template.Template
	client  *http.Client
	now     func() time.Time
}

// New builds the sink named name from cfg, which must be valid.
func New(name string, cfg Config) (*Sink, error) {
	if err := cfg.Validate("webhook"); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.URL) // checked by Validate
	s := &Sink{
		name:    name,
		url:     cfg.URL,
		target:  u.Scheme + "://" + u.Host + u.Path,
		timeout: time.Duration(cfg.Timeout),
		header:  make(http.Header, 4+len(cfg.Headers)),
		now:     time.Now,
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	s.header.Set("Content-Type", "application/json")
	if cfg.ContentType != "" {
		s.header.Set("Content-Type", cfg.ContentType)
	}
	s.header.Set("User-Agent", "corrd")
	for k, v := range cfg.Headers {
		s.header.Set(k, v)
	}
	switch {
	case cfg.BearerToken != "":
		s.header.Set("Authorization", "Bearer "+cfg.BearerToken)
	case cfg.BasicAuth != nil:
		cred := cfg.BasicAuth.Username + ":" + cfg.BasicAuth.Password
		s.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	}
	if cfg.Template != "" {
		s.tmpl, _ = parseTemplate(name, cfg.Template) // checked by Validate
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	s.client = &http.Client{Transport: transport}
	return s, nil
}

// Name returns the sink's name from the config.
func (s *Sink) Name() string { return s.name }

// Close releases idle connections.
func (s *Sink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Deliver posts change. It reports whether a failure may succeed if retried.
func (s *Sink) Deliver(ctx context.Context, change correlator.Change) (retryable bool, err error) {
	body, err := s.body(change)
	if err != nil {
		return false, fmt.Errorf("webhook %s: render body: %w", s.name, err)
	}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("webhook %s: build request: %w", s.name, err)
	}
	req.Header = s.header.Clone()
	req.Header.Set("Idempotency-Key", IdempotencyKey(&change))

	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timeout after %s: %w", s.timeout, err)
		}
		return true, fmt.Errorf("webhook %s: POST %s: %w", s.name, s.target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Drain (bounded) so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
		return false, nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	serr := &StatusError{StatusCode: resp.StatusCode, Status: resp.Status, Body: string(b)}
	retryable = RetryableStatus(resp.StatusCode)
	if retryable {
		serr.retryAfter, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	}
	return retryable, fmt.Errorf("webhook %s: POST %s: %w", s.name, s.target, serr)
}

// body renders the request body of change.
func (s *Sink) body(change correlator.Change) ([]byte, error) {
	if s.tmpl == nil {
		return schema.Marshal(change)
	}
	var buf bytes.Buffer
	if err := s.tmpl.Execute(&buf, change); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// IdempotencyKey returns the Idempotency-Key of a change: "<incident
// id>-<revision>", or "<problem id>-<revision>" for a problem change.
func IdempotencyKey(ch *correlator.Change) string {
	if p := ch.Problem; p != nil {
		return p.ID + "-" + strconv.FormatUint(p.Revision, 10)
	}
	return ch.Incident.ID + "-" + strconv.FormatUint(ch.Incident.Revision, 10)
}

// RetryableStatus reports whether an HTTP answer may succeed if retried:
// 408, 429 and 5xx.
func RetryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// StatusError is a non-2xx response.
type StatusError struct {
	StatusCode int
	// Status is the status line text, e.g. "503 Service Unavailable".
	Status string
	// Body is the start of the response body (at most 64 KiB).
	Body       string
	retryAfter time.Duration
}

// maxBodyInMessage bounds the part of the body Error shows.
const maxBodyInMessage = 512

func (e *StatusError) Error() string {
	msg := "unexpected status " + e.Status
	body := bytes.TrimSpace([]byte(e.Body))
	if len(body) > maxBodyInMessage {
		body = append(body[:maxBodyInMessage:maxBodyInMessage], "..."...)
	}
	if len(body) > 0 {
		msg += ": " + string(body)
	}
	return msg
}

// RetryAfter returns the delay the response's Retry-After header asked for,
// or 0 when it had none.
func (e *StatusError) RetryAfter() time.Duration { return e.retryAfter }

// ParseRetryAfter reads a Retry-After header value: delta-seconds or an HTTP
// date, relative to now. A date in the past gives 0; delays are capped at a
// year. ok is false when v is empty or malformed.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}

// maxRetryAfter keeps absurd header values from overflowing.
const maxRetryAfter = 365 * 24 * time.Hour

func parseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Option("missingkey=error").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}).Parse(text)
}
