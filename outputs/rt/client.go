package rt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/corrd/corrd/outputs/webhook"
)

// maxResponseBody bounds how much of a response body is read.
const maxResponseBody = 1 << 20

// client makes REST2 calls. It is safe for concurrent use.
type client struct {
	base    string // <url>/REST/2.0, no trailing slash
	auth    string // Authorization header value
	timeout time.Duration
	http    *http.Client
	now     func() time.Time
}

// call is one REST2 request: method, path under the API base (with its
// query), and an optional JSON body.
type call struct {
	method string
	path   string
	body   any
}

// do performs c and decodes a 2xx JSON answer into out (when not nil). Any
// failure is an *APIError or a transport error wrapped in *TransportError.
func (cl *client) do(ctx context.Context, c call, out any) error {
	var body io.Reader
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return fmt.Errorf("%s %s: encode body: %w", c.method, pathOnly(c.path), err)
		}
		body = bytes.NewReader(b)
	}
	rctx, cancel := context.WithTimeout(ctx, cl.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, c.method, cl.base+c.path, body)
	if err != nil {
		return fmt.Errorf("%s %s: build request: %w", c.method, pathOnly(c.path), err)
	}
	req.Header.Set("Authorization", cl.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "corrd")
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timeout after %s: %w", cl.timeout, err)
		}
		return fmt.Errorf("%s %s: %w", c.method, pathOnly(c.path), &TransportError{Err: err})
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil && resp.StatusCode/100 == 2 {
		return fmt.Errorf("%s %s: read response: %w", c.method, pathOnly(c.path), &TransportError{Err: err})
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{StatusCode: resp.StatusCode, Status: resp.Status, Message: errorMessage(b)}
		if webhook.RetryableStatus(resp.StatusCode) {
			e.retryAfter, _ = webhook.ParseRetryAfter(resp.Header.Get("Retry-After"), cl.now())
		}
		return fmt.Errorf("%s %s: %w", c.method, pathOnly(c.path), e)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: %w", c.method, pathOnly(c.path),
			&APIError{StatusCode: resp.StatusCode, Status: resp.Status, Message: "undecodable answer: " + err.Error() + ": " + clip(string(b))})
	}
	return nil
}

// pathOnly strips the query, which may be long, from a request path.
func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

// errorMessage extracts RT's message from an error body: {"message": "..."}
// or an array of messages; else the body itself, clipped.
func errorMessage(b []byte) string {
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &obj) == nil && obj.Message != "" {
		return strings.TrimSpace(obj.Message)
	}
	var msgs []string
	if json.Unmarshal(b, &msgs) == nil && len(msgs) > 0 {
		return strings.Join(msgs, "; ")
	}
	return clip(strings.TrimSpace(string(b)))
}

// maxMessage bounds the part of a body an error shows.
const maxMessage = 512

func clip(s string) string {
	if len(s) > maxMessage {
		return s[:maxMessage] + "..."
	}
	return s
}

// APIError is an answer of RT that reports a failure: a non-2xx status, or a
// 2xx whose body says the call did not do what was asked (StatusCode is then
// the 2xx status).
type APIError struct {
	StatusCode int
	// Status is the status line text, e.g. "503 Service Unavailable".
	Status string
	// Message is RT's message, or the start of the body.
	Message    string
	retryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := "RT answered " + e.Status
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// RetryAfter returns the delay the answer's Retry-After header asked for,
// or 0.
func (e *APIError) RetryAfter() time.Duration { return e.retryAfter }

// Retryable reports whether the call may succeed if repeated: 408, 429 and
// 5xx.
func (e *APIError) Retryable() bool { return webhook.RetryableStatus(e.StatusCode) }

// TransportError is a request that got no answer: connection refused,
// reset, timeout. The request may or may not have reached RT.
type TransportError struct{ Err error }

func (e *TransportError) Error() string { return e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// retryable classifies a failed call.
func retryable(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Retryable()
	}
	return false
}

// ambiguous reports whether a failed call may nevertheless have been
// carried out: no answer, or a 5xx (RT may fail after its commit).
func ambiguous(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode >= 500
}

// notFound reports whether err is RT's 404.
func notFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

// ref is a record reference in REST2 answers. RT renders ids as strings in
// some answers and as numbers in others.
type ref struct {
	ID flexInt `json:"id"`
}

// flexInt decodes a JSON number or a string holding one.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*f = flexInt(n)
	return nil
}

// collection is a page of a REST2 search.
type collection[T any] struct {
	Items []T     `json:"items"`
	Total flexInt `json:"total"`
	Page  flexInt `json:"page"`
	Pages float64 `json:"pages"` // RT renders 0 pages as 0.0
}
