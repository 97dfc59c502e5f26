package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/correlator/store"
	"github.com/corrd/corrd/outputs"
	"github.com/corrd/corrd/rules"
)

// incidentReader is what the API reads from the engine, and the one
// write it makes: acknowledgement.
type incidentReader interface {
	Incidents(correlator.Filter) []correlator.Incident
	Incident(id string) (correlator.Incident, bool)
	Ack(id, by string) (correlator.Incident, error)
	Wait(id, reason string) (correlator.Incident, error)
	AddSilence(correlator.Silence) (correlator.Silence, error)
	ExpireSilence(id string) (correlator.Silence, error)
	Silences() []correlator.Silence
	KnownErrors() []correlator.KnownErrorInfo
	AddKnownError(rules.KnownErrorConfig) (correlator.KnownErrorInfo, error)
	DeleteKnownError(id string) error
	AddChanges([]correlator.ChangeRecord) error
	Changes() []correlator.ChangeRecord
	Problems() []correlator.Problem
	Problem(id string) (correlator.Problem, bool)
	ResolveProblem(id string) (correlator.Problem, error)
	KnownErrorFromProblem(id string, c rules.KnownErrorConfig) (correlator.KnownErrorInfo, error)
}

var _ incidentReader = (*correlator.Engine)(nil)

// webDeps are the parts of the daemon the HTTP server exposes.
type webDeps struct {
	incidents incidentReader
	// receivers are the webhook sources, mounted at their paths.
	receivers []receiver
	gatherer  prometheus.Gatherer
	// ready reports why corrd cannot take work (the engine or the
	// outputs do not run, the store cannot commit), nil when it can.
	ready  func() error
	reload func() error
	log    zerolog.Logger
	// dead are the outputs' dead letters; nil leaves their routes out.
	dead deadLetterStore
	// backup writes a consistent copy of the state store; nil (no
	// store) leaves its route out.
	backup func(w io.Writer) (int64, error)
}

// newWebHandler builds corrd's HTTP routes.
func newWebHandler(d webDeps) (http.Handler, error) {
	mux := http.NewServeMux()
	for _, r := range d.receivers {
		if err := handle(mux, r.path, r.handler); err != nil {
			return nil, fmt.Errorf("mount receiver: %w", err)
		}
	}
	api := incidentAPI{src: d.incidents, log: d.log}
	routes := []struct {
		pattern string
		h       http.Handler
	}{
		{"GET /api/v1/incidents", http.HandlerFunc(api.list)},
		{"GET /api/v1/incidents/{id}", http.HandlerFunc(api.get)},
		{"POST /api/v1/incidents/{id}/ack", http.HandlerFunc(api.ack)},
		{"GET /api/v1/incidents/{id}/report", http.HandlerFunc(api.report)},
		{"POST /api/v1/incidents/{id}/wait", http.HandlerFunc(api.wait)},
		{"DELETE /api/v1/incidents/{id}/wait", http.HandlerFunc(api.wait)},
		{"GET /api/v1/silences", http.HandlerFunc(api.listSilences)},
		{"POST /api/v1/silences", http.HandlerFunc(api.addSilence)},
		{"DELETE /api/v1/silences/{id}", http.HandlerFunc(api.expireSilence)},
		{"GET /api/v1/known-errors", http.HandlerFunc(api.listKnownErrors)},
		{"POST /api/v1/known-errors", http.HandlerFunc(api.addKnownError)},
		{"DELETE /api/v1/known-errors/{id}", http.HandlerFunc(api.deleteKnownError)},
		{"POST /api/v1/ingest/changes", http.HandlerFunc(api.addChanges)},
		{"GET /api/v1/changes", http.HandlerFunc(api.listChanges)},
		{"GET /api/v1/problems", http.HandlerFunc(api.listProblems)},
		{"GET /api/v1/problems/{id}", http.HandlerFunc(api.getProblem)},
		{"POST /api/v1/problems/{id}/resolve", http.HandlerFunc(api.resolveProblem)},
		{"POST /api/v1/problems/{id}/known-error", http.HandlerFunc(api.problemKnownError)},
		{"/metrics", promhttp.HandlerFor(d.gatherer, promhttp.HandlerOpts{})},
		{"GET /-/healthy", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintln(w, "corrd is healthy.")
		})},
		{"GET /-/ready", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if err := d.ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "corrd is not ready: %v.\n", err)
				return
			}
			fmt.Fprintln(w, "corrd is ready.")
		})},
		{"POST /-/reload", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if err := d.reload(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "reloaded.")
		})},
	}
	if d.dead != nil {
		dl := deadLetterAPI{store: d.dead, api: api}
		routes = append(routes, []struct {
			pattern string
			h       http.Handler
		}{
			{"GET /api/v1/deadletters", http.HandlerFunc(dl.list)},
			{"POST /api/v1/deadletters/{id}/retry", http.HandlerFunc(dl.retry)},
			{"DELETE /api/v1/deadletters/{id}", http.HandlerFunc(dl.delete)},
		}...)
	}
	if d.backup != nil {
		routes = append(routes, struct {
			pattern string
			h       http.Handler
		}{"GET /api/v1/store/backup", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			// The snapshot is taken into a local file before the first
			// byte goes out, so a refusal or a failed snapshot still gets
			// its own status.
			bw := &backupWriter{w: w}
			n, err := d.backup(bw)
			switch {
			case errors.Is(err, store.ErrBackupBusy):
				w.Header().Set("Retry-After", "60")
				http.Error(w, "store backup: "+err.Error()+"; retry later", http.StatusTooManyRequests)
			case err != nil && n == 0 && !bw.started:
				d.log.Error().Err(err).Msg("store backup")
				http.Error(w, "store backup failed: "+err.Error(), http.StatusInternalServerError)
			case err != nil:
				// The status is out already: the copy is cut short, which
				// the reader sees as a truncated body.
				d.log.Error().Err(err).Msg("store backup")
			}
		})})
	}
	for _, rt := range routes {
		if err := handle(mux, rt.pattern, rt.h); err != nil {
			return nil, err
		}
	}
	return mux, nil
}

// backupWriter sets the backup's headers on its first write.
type backupWriter struct {
	w       http.ResponseWriter
	started bool
}

func (b *backupWriter) Write(p []byte) (int, error) {
	if !b.started {
		b.started = true
		b.w.Header().Set("Content-Type", "application/octet-stream")
		b.w.Header().Set("Content-Disposition", `attachment; filename="corrd.db"`)
	}
	return b.w.Write(p)
}

// handle registers a route, turning ServeMux's panic on a conflicting
// pattern (a receiver path such as /metrics) into an error.
func handle(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("route %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

type incidentAPI struct {
	src incidentReader
	log zerolog.Logger
}

func (a incidentAPI) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := correlator.Filter{Rule: q.Get("rule")}
	switch s := correlator.Status(q.Get("status")); s {
	case "":
	case correlator.StatusOpen, correlator.StatusResolved, correlator.StatusClosed:
		f.Status = s
	default:
		a.writeJSON(w, http.StatusBadRequest, apiError{
			Error: fmt.Sprintf("unknown status %q (want open, resolved or closed)", s),
		})
		return
	}
	limit, err := pageLimit(q.Get("limit"))
	if err != nil {
		a.writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	if c := q.Get("cursor"); c != "" {
		cur, err := decodeCursor(c)
		if err != nil {
			a.writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
			return
		}
		f.After = &cur
	}
	f.Limit = limit + 1 // one more tells whether a next page exists
	incs := a.src.Incidents(f)
	next := ""
	if len(incs) > limit {
		incs = incs[:limit]
		next = encodeCursor(correlator.CursorOf(incs[limit-1]))
	}
	writeIncidentPage(w, incs, next, a.log)
}

func (a incidentAPI) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	inc, ok := a.src.Incident(id)
	if !ok {
		a.writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("incident %q not found", id)})
		return
	}
	a.writeJSON(w, http.StatusOK, inc)
}

// report renders the Markdown incident report of a resolved or closed
// incident.
func (a incidentAPI) report(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	inc, ok := a.src.Incident(id)
	if !ok {
		a.writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("incident %q not found", id)})
		return
	}
	if inc.Status == correlator.StatusOpen {
		a.writeJSON(w, http.StatusConflict, apiError{Error: fmt.Sprintf("incident %q is still open: reports are for resolved or closed incidents", id)})
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	fmt.Fprint(w, correlator.Report(inc))
}

// wait records whom an incident waits on (POST {"on": "vendor"}) or ends
// the wait (DELETE).
func (a incidentAPI) wait(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var body struct {
		On string `json:"on"`
	}
	if r.Method == http.MethodPost {
		if err := decodeStrict(w, r, &body); err != nil {
			a.writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid request: want {\"on\": \"vendor\"}: " + err.Error()})
			return
		}
		if strings.TrimSpace(body.On) == "" {
			a.writeJSON(w, http.StatusBadRequest, apiError{Error: `"on" is required: whom the incident waits on`})
			return
		}
	}
	inc, err := a.src.Wait(id, strings.TrimSpace(body.On))
	if err != nil {
		a.writeError(w, id, err)
		return
	}
	a.writeJSON(w, http.StatusOK, inc)
}

// maxAckBody bounds an acknowledgement request.
const maxAckBody = 4096

// ack records who acknowledged an incident: POST {"by": "name"}.
func (a incidentAPI) ack(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var body struct {
		By string `json:"by"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAckBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		a.writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("invalid request: want {\"by\": \"name\"}: %v", err)})
		return
	}
	if strings.TrimSpace(body.By) == "" {
		a.writeJSON(w, http.StatusBadRequest, apiError{Error: `"by" is required: who acknowledges`})
		return
	}
	inc, err := a.src.Ack(id, body.By)
	if err != nil {
		a.writeError(w, id, err)
		return
	}
	a.writeJSON(w, http.StatusOK, inc)
}

type apiError struct {
	Error string `json:"error"`
}

// writeError answers an engine error with the status its kind calls for:
// 404 for an unknown id, 409 for a state conflict, 400 for invalid input,
// 503 when the state store refused the write.
func (a incidentAPI) writeError(w http.ResponseWriter, id string, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, correlator.ErrUnknownIncident), errors.Is(err, correlator.ErrUnknownSilence),
		errors.Is(err, correlator.ErrUnknownKE), errors.Is(err, correlator.ErrUnknownProblem):
		code = http.StatusNotFound
	case errors.Is(err, correlator.ErrNotOpen), errors.Is(err, correlator.ErrDuplicateKE),
		errors.Is(err, correlator.ErrConfiguredKE), errors.Is(err, correlator.ErrTooManySilences):
		code = http.StatusConflict
	case errors.Is(err, correlator.ErrInvalid), errors.Is(err, correlator.ErrInvalidSilence):
		code = http.StatusBadRequest
	case errors.Is(err, correlator.ErrNotPersisted):
		code = http.StatusServiceUnavailable // nothing changed; try again
	}
	msg := err.Error()
	if id != "" {
		msg = fmt.Sprintf("%q: %s", id, msg)
	}
	a.writeJSON(w, code, apiError{Error: msg})
}

func (a incidentAPI) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		a.log.Debug().Err(err).Msg("write response")
	}
}

// deadLetterAPI serves the outputs' dead letters.
type deadLetterAPI struct {
	store deadLetterStore
	api   incidentAPI
}

func (a deadLetterAPI) list(w http.ResponseWriter, _ *http.Request) {
	a.api.writeJSON(w, http.StatusOK, struct {
		DeadLetters []outputs.DeadLetter `json:"dead_letters"`
	}{a.store.DeadLetters()})
}

func (a deadLetterAPI) retry(w http.ResponseWriter, r *http.Request) {
	a.answer(w, r.PathValue("id"), a.store.RetryDeadLetter(r.PathValue("id")), "queued again")
}

func (a deadLetterAPI) delete(w http.ResponseWriter, r *http.Request) {
	a.answer(w, r.PathValue("id"), a.store.DeleteDeadLetter(r.PathValue("id")), "deleted")
}

func (a deadLetterAPI) answer(w http.ResponseWriter, id string, err error, done string) {
	switch {
	case errors.Is(err, outputs.ErrUnknownDeadLetter):
		a.api.writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("%q: %v", id, err)})
	case errors.Is(err, outputs.ErrClosing):
		a.api.writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
	case err != nil:
		a.api.writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
	default:
		a.api.writeJSON(w, http.StatusOK, map[string]string{"id": id, "status": done})
	}
}
