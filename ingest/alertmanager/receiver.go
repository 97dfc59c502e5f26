package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
)

// retryAfter is the Retry-After value (seconds) of 503 answers.
// Alertmanager retries with its own backoff; other senders may use it.
const retryAfter = "5"

// Receiver is the HTTP handler of one Alertmanager webhook endpoint. It is
// safe for concurrent use.
type Receiver struct {
	name    string
	path    string
	maxBody int64
	auth    *authenticator
	sub     ingest.Submitter
	m       *metrics
	log     zerolog.Logger // sampled: refused input may come in floods
	now     func() time.Time
}

var _ http.Handler = (*Receiver)(nil)

// New builds the receiver of the source named name. It applies cfg's
// defaults (see Config.SetDefaults) to its own copy, reads the secret
// files of cfg.Auth, and registers its metrics with reg (nil: none).
// Receivers of several names may share reg, and so may an old and a new
// receiver of the same name during a reload.
func New(name string, cfg Config, sub ingest.Submitter, m *ingest.Metrics, reg prometheus.Registerer, log zerolog.Logger) (*Receiver, error) {
	if name == "" {
		return nil, errors.New("alertmanager: empty source name")
	}
	if sub == nil || m == nil {
		return nil, fmt.Errorf("alertmanager %s: nil submitter or metrics", name)
	}
	cfg.SetDefaults()
	if err := cfg.Validate("alertmanager " + name); err != nil {
		return nil, err
	}
	r := &Receiver{
		name:    name,
		path:    cfg.Path,
		maxBody: cfg.MaxBodyBytes,
		sub:     sub,
		now:     time.Now,
	}
	if cfg.Auth != nil {
		cr, err := cfg.Auth.resolve()
		if err != nil {
			return nil, fmt.Errorf("alertmanager %s: %w", name, err)
		}
		r.auth = newAuthenticator(cr)
	}
	var err error
	if r.m, err = newMetrics(reg, name, m); err != nil {
		return nil, fmt.Errorf("alertmanager %s: register metrics: %w", name, err)
	}
	r.log = log.With().Str("component", "ingest/alertmanager").Str("source", name).Logger().
		Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second})
	return r, nil
}

// Path is the path the receiver is to be mounted at.
func (r *Receiver) Path() string { return r.path }

// ServeHTTP takes one webhook message: it answers 200 once the correlator
// accepted all its alerts, 503 (with Retry-After) when the correlator is
// busy, and a 4xx with a JSON error body when the input is refused.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	arrival := r.now()
	start := time.Now()
	code := r.serve(w, req, arrival)
	r.m.request(code).Inc()
	r.m.duration.Observe(time.Since(start).Seconds())
}

// state is the per-request scratch space, pooled.
type state struct {
	body bytes.Buffer
	dec  decoder
}

// Pooled states beyond these sizes are dropped rather than kept.
const (
	maxPooledBody   = 1 << 20
	maxPooledAlerts = 1024
)

var statePool = sync.Pool{New: func() any { return new(state) }}

func putState(st *state) {
	if st.body.Cap() > maxPooledBody || st.dec.big(maxPooledBody) {
		return
	}
	statePool.Put(st)
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request, arrival time.Time) int {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return r.refuse(w, req, &requestError{http.StatusMethodNotAllowed, reasonMethod,
			fmt.Sprintf("method %s not allowed, use POST", req.Method)})
	}
	if r.auth != nil && !r.auth.check(req) {
		w.Header().Set("WWW-Authenticate", r.auth.challenge)
		return r.refuse(w, req, &requestError{http.StatusUnauthorized, reasonAuth, "missing or wrong credentials"})
	}
	if ct := req.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return r.refuse(w, req, &requestError{http.StatusUnsupportedMediaType, reasonMediaType,
			fmt.Sprintf("content type %q is not JSON", ct)})
	}
	if req.ContentLength > r.maxBody {
		return r.refuse(w, req, r.tooLarge())
	}

	st := statePool.Get().(*state)
	defer putState(st)
	st.body.Reset()
	if req.ContentLength > 0 {
		st.body.Grow(int(req.ContentLength) + 1) // +1: ReadFrom's final read at EOF
	}
	if _, err := st.body.ReadFrom(http.MaxBytesReader(w, req.Body, r.maxBody)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return r.refuse(w, req, r.tooLarge())
		}
		return r.refuse(w, req, badRequest(reasonRead, "read body: %v", err))
	}

	b, rerr := st.dec.decode(st.body.Bytes(), r.name, arrival)
	if rerr != nil {
		return r.refuse(w, req, rerr)
	}

	// Alertmanager resends what was not acknowledged: answer 200 only once
	// the batch is stored, where the correlator has a store.
	submit := r.sub.Submit
	if ds, ok := r.sub.(ingest.DurableSubmitter); ok {
		submit = ds.SubmitStored
	}
	if err := submit(req.Context(), b.events); err != nil {
		return r.submitFailed(w, req, err, len(b.events))
	}
	n := len(b.events)
	r.m.received.Add(float64(n))
	r.m.alerts.Observe(float64(n))
	if b.unknownSeverity > 0 {
		r.m.unknownSeverity.Add(float64(b.unknownSeverity))
	}
	if b.truncated > 0 {
		r.m.truncated.Add(float64(b.truncated))
	}

	var out [64]byte
	body := append(out[:0], `{"status":"success","accepted":`...)
	body = strconv.AppendInt(body, int64(n), 10)
	body = append(body, "}\n"...)
	writeJSON(w, http.StatusOK, body)
	return http.StatusOK
}

func (r *Receiver) tooLarge() *requestError {
	return &requestError{http.StatusRequestEntityTooLarge, reasonTooLarge,
		fmt.Sprintf("request body larger than %d bytes", r.maxBody)}
}

// submitFailed answers a batch the correlator did not take.
func (r *Receiver) submitFailed(w http.ResponseWriter, req *http.Request, err error, n int) int {
	var reason string
	switch {
	case errors.Is(err, ingest.ErrBatchTooLarge):
		return r.refuse(w, req, &requestError{http.StatusRequestEntityTooLarge, reasonBatchSize,
			fmt.Sprintf("%d alerts in one request: %v; send smaller batches (Alertmanager: fewer alerts per group, or raise correlator.queue_size)", n, err)})
	case errors.Is(err, ingest.ErrBackpressure):
		reason = reasonBackpress
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		reason = reasonCanceled
	default:
		r.m.rejected[reasonSubmitError].Inc()
		r.log.Error().Err(err).Int("alerts", n).Msg("submit alerts")
		writeError(w, http.StatusInternalServerError, "submit alerts: internal error")
		return http.StatusInternalServerError
	}
	r.m.rejected[reason].Inc()
	r.log.Warn().Err(err).Int("alerts", n).Str("remote", req.RemoteAddr).Msg("alerts not accepted, asked sender to retry")
	w.Header().Set("Retry-After", retryAfter)
	writeError(w, http.StatusServiceUnavailable, "correlator busy, retry later: "+err.Error())
	return http.StatusServiceUnavailable
}

// refuse answers a refused request and counts it.
func (r *Receiver) refuse(w http.ResponseWriter, req *http.Request, e *requestError) int {
	r.m.rejected[e.reason].Inc()
	r.log.Warn().Str("reason", e.reason).Str("error", e.msg).Str("remote", req.RemoteAddr).Int("code", e.code).
		Msg("request refused")
	writeError(w, e.code, e.msg)
	return e.code
}

func writeError(w http.ResponseWriter, code int, msg string) {
	body, _ := json.Marshal(struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}{"error", msg})
	writeJSON(w, code, append(body, '\n'))
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// isJSON reports whether the Content-Type value ct is JSON
// (application/json, or a +json type), with any parameters.
func isJSON(ct string) bool {
	if ct == "application/json" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
