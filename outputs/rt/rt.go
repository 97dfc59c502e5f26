// Package rt delivers incident changes to Request Tracker 5 through its
// REST2 API: one ticket per incident, found again by a ticket custom field
// (default IncidentKey) that holds the incident id.
//
// # Mapping
//
//	opened                      find the ticket by key, else create it
//	updated, status_update,
//	acknowledged, sla_warning,
//	sla_breached, escalated     comment
//	priority_changed            set Priority, then comment
//	resolved                    set Status resolved, then comment
//	reopened                    set Status open, then comment
//	closed                      nothing in RT; the sink forgets the ticket id
//	problem_opened/_updated     skipped, unless problems: true (then a
//	                            ticket per problem id, comments on updates,
//	                            resolved with the problem)
//	any other change type       comment
//
// Every change first makes sure the incident has a ticket: a change whose
// ticket is not known (its opened change was lost, or the daemon restarted)
// searches for it by key and creates it when there is none, so nothing is
// lost. Creating is idempotent: before every create the sink searches
// `CF.{IncidentKey} = '<id>'` and adopts the oldest match. (RT's "unique
// values" on a custom field does not prevent a duplicate ticket.)
//
// With durable ticket ids (WithStore, or a TicketIDs that is a
// CreateMarker) the sink saves those searches: before each create it
// commits a pending-create marker for the key, and the ticket's id
// replaces the marker once created. A key without a record never had a
// create sent, so it is created without a search; a key whose marker is
// still there had a create whose outcome is unknown (an answer lost, a
// crash), so the sink searches and adopts what it finds before creating.
// The first create of a sink still checks with a search that the custom
// field finds it.
//
// Within a change the idempotent calls come first (status, priority) and
// the comment last, so a retry repeats only what did not happen. Each
// comment's subject names the change ("corrd updated inc-... r7"); when a
// comment's answer was lost, the retry looks for that subject in the
// ticket's history before commenting again.
//
// # Results
//
// RT answers some failed updates with 200 and an array of messages (an
// invalid status, a field it refused). The sink therefore reads a ticket
// back after each update and fails when the field does not hold the value
// it set. 401, 403, 404 and other 4xx are permanent; 408, 429, 5xx and
// transport errors (the per-request timeout included) are retryable, and
// their error carries a Retry-After delay through RetryAfter().
package rt

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corrd/corrd/correlator"
)

// DefaultTimeout bounds one request when the config sets no timeout.
const DefaultTimeout = 10 * time.Second

// The operations the sink carries out in RT.
const (
	OpCreate   = "create"
	OpComment  = "comment"
	OpPriority = "priority"
	OpResolve  = "resolve"
	OpReopen   = "reopen"
	OpClose    = "close"
)

// Sink keeps one RT ticket per incident. It is safe for concurrent use;
// changes of one incident must be delivered in order (the outputs
// dispatcher does so).
type Sink struct {
	name       string
	queue      string
	cf         string
	createCF   bool
	problems   bool
	priorities [5]int // index: corrd priority 1..4
	cl         *client
	ids        TicketIDs

	cfMu    sync.Mutex
	cfReady bool
	// created is set once a create was found by the custom field search:
	// with markers, later creates skip that check.
	created atomic.Bool

	// unsure holds the subjects of comments whose last attempt got no
	// clear answer: the next attempt checks the history first.
	unsureMu sync.Mutex
	unsure   map[string]struct{}
}

// Option configures a Sink.
type Option func(*Sink)

// WithTicketIDs makes the sink remember ticket ids in ids instead of in
// memory, e.g. in a durable store.
func WithTicketIDs(ids TicketIDs) Option {
	return func(s *Sink) { s.ids = ids }
}

// WithStore makes the sink keep its ticket ids, with pending-create
// markers, in st: a StoreTicketIDs in bucket TicketBucket(name).
func WithStore(st Store) Option {
	return func(s *Sink) { s.ids = NewStoreTicketIDs(st, s.name) }
}

// WithHTTPClient replaces the HTTP client (tests, proxies, TLS settings).
func WithHTTPClient(c *http.Client) Option {
	return func(s *Sink) { s.cl.http = c }
}

// New builds the sink named name from cfg, which must be valid. It reads
// the secret files but does not contact RT.
func New(name string, cfg Config, opts ...Option) (*Sink, error) {
	if err := cfg.Validate("rt"); err != nil {
		return nil, err
	}
	auth, err := cfg.Auth.authorization()
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.URL) // checked by Validate
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/REST/2.0")
	s := &Sink{
		name:     name,
		queue:    cfg.Queue,
		cf:       cfg.CustomField,
		createCF: cfg.CreateCustomField,
		problems: cfg.Problems,
		cl: &client{
			base:    u.String() + "/REST/2.0",
			auth:    auth,
			timeout: time.Duration(cfg.Timeout),
			http:    &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
			now:     time.Now,
		},
		ids:    &MemoryTicketIDs{},
		unsure: make(map[string]struct{}),
	}
	if s.queue == "" {
		s.queue = DefaultQueue
	}
	if s.cf == "" {
		s.cf = DefaultCustomField
	}
	if s.cl.timeout <= 0 {
		s.cl.timeout = DefaultTimeout
	}
	for p := 1; p <= 4; p++ {
		s.priorities[p] = DefaultPriorities[p]
		if v, ok := cfg.Priorities[p]; ok {
			s.priorities[p] = v
		}
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Name returns the sink's name from the config.
func (s *Sink) Name() string { return s.name }

// Operations lists what the sink does in RT: create, comment, priority,
// resolve, reopen, and close (it forgets the ticket id: the ticket was
// resolved with the incident).
func (s *Sink) Operations() []string {
	return []string{OpCreate, OpComment, OpPriority, OpResolve, OpReopen, OpClose}
}

// Close releases idle connections.
func (s *Sink) Close() error {
	s.cl.http.CloseIdleConnections()
	return nil
}

// Deliver applies change to the incident's ticket. It reports whether a
// failure may succeed if retried.
func (s *Sink) Deliver(ctx context.Context, change correlator.Change) (retryable bool, err error) {
	key := change.Incident.ID
	if isProblem(change.Type) {
		if !s.problems || change.Problem == nil {
			return false, nil
		}
		key = change.Problem.ID
	}
	if key == "" {
		return false, fmt.Errorf("rt %s: %s change without an id", s.name, change.Type)
	}
	if change.Type == correlator.ChangeClosed {
		// The ticket was resolved with the incident; nothing more to say.
		if err := s.ids.Delete(key); err != nil {
			return true, fmt.Errorf("rt %s: %s %s: forget ticket: %w", s.name, change.Type, key, err)
		}
		return false, nil
	}
	if err := s.apply(ctx, key, &change); err != nil {
		return isRetryable(err), fmt.Errorf("rt %s: %s %s: %w", s.name, change.Type, key, err)
	}
	return false, nil
}

// errStore marks a failure of the TicketIDs store: retryable.
type errStore struct{ err error }

func (e *errStore) Error() string { return "ticket id store: " + e.err.Error() }
func (e *errStore) Unwrap() error { return e.err }

func isRetryable(err error) bool {
	var se *errStore
	return errors.As(err, &se) || retryable(err)
}

func isProblem(t correlator.ChangeType) bool {
	return t == correlator.ChangeProblemOpened || t == correlator.ChangeProblemUpdated
}

// apply carries out change on key's ticket. When a remembered ticket turns
// out not to exist, it forgets it and starts over once.
func (s *Sink) apply(ctx context.Context, key string, ch *correlator.Change) error {
	if err := s.ensureCustomField(ctx); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		// After a remembered ticket turned out gone, search even with
		// markers: another ticket may hold the key.
		id, remembered, err := s.ensureTicket(ctx, key, ch, attempt > 0)
		if err != nil {
			return err
		}
		err = s.update(ctx, id, ch)
		if err != nil && remembered && attempt == 0 && !isRetryable(err) && s.ticketGone(ctx, id, err) {
			if derr := s.ids.Delete(key); derr != nil {
				return errors.Join(err, &errStore{derr})
			}
			continue
		}
		return err
	}
}

// ticketGone reports whether ticket id does not exist, after a call on it
// failed with err. RT answers a comment on a missing ticket with 400
// ("Message could not be recorded"), so a 4xx other than 404 is checked
// with a read.
func (s *Sink) ticketGone(ctx context.Context, id int, err error) bool {
	var ae *APIError
	switch {
	case !errors.As(err, &ae):
		return false
	case ae.StatusCode == http.StatusNotFound:
		return true
	case ae.StatusCode == http.StatusUnauthorized || ae.StatusCode == http.StatusForbidden || ae.StatusCode/100 != 4:
		return false
	}
	return notFound(s.cl.do(ctx, call{method: http.MethodGet, path: "/ticket/" + strconv.Itoa(id)}, nil))
}

// update applies the change-specific calls to ticket id: the idempotent
// settings first, the comment last.
func (s *Sink) update(ctx context.Context, id int, ch *correlator.Change) error {
	switch ch.Type {
	case correlator.ChangeOpened, correlator.ChangeProblemOpened:
		return nil
	case correlator.ChangePriorityChanged:
		if err := s.setField(ctx, id, "Priority", strconv.Itoa(s.rtPriority(ch.Incident.Priority))); err != nil {
			return err
		}
	case correlator.ChangeResolved:
		if err := s.setField(ctx, id, "Status", "resolved"); err != nil {
			return err
		}
	case correlator.ChangeReopened:
		if err := s.setField(ctx, id, "Status", "open"); err != nil {
			return err
		}
	case correlator.ChangeProblemUpdated:
		if ch.Problem.Status == "resolved" {
			if err := s.setField(ctx, id, "Status", "resolved"); err != nil {
				return err
			}
		}
	}
	return s.comment(ctx, id, ch)
}

// rtPriority maps a corrd priority to RT's; out-of-range values are
// clamped to 1..4.
func (s *Sink) rtPriority(p int) int {
	return s.priorities[min(max(p, 1), 4)]
}

// ensureTicket returns key's ticket: remembered, found by the custom field,
// or created. remembered is true when the id came from the TicketIDs
// store without asking RT. When the TicketIDs is a CreateMarker, RT is
// searched only if a create for key was started before (or search is
// set); otherwise always.
func (s *Sink) ensureTicket(ctx context.Context, key string, ch *correlator.Change, search bool) (id int, remembered bool, err error) {
	id, ok, err := s.ids.Get(key)
	if err != nil {
		return 0, false, &errStore{err}
	}
	if ok {
		return id, true, nil
	}
	marker, marks := s.ids.(CreateMarker)
	if !marks {
		search = true
	} else {
		// The marker is committed before anything is sent, so a create
		// whose answer is lost is always known as one.
		wasPending, err := marker.MarkCreating(key)
		if err != nil {
			return 0, false, &errStore{err}
		}
		search = search || wasPending
	}
	if search {
		if id, err = s.findTicket(ctx, key); err != nil {
			return 0, false, err
		}
	}
	if id == 0 {
		// Without markers every create is checked: it is what keeps the
		// next search from missing the ticket.
		if id, err = s.createTicket(ctx, key, ch, !marks || !s.created.Load()); err != nil {
			return 0, false, err
		}
	}
	if err := s.ids.Put(key, id); err != nil {
		return 0, false, &errStore{err}
	}
	return id, false, nil
}

// findTicket returns the oldest ticket whose custom field holds key, 0 when
// there is none.
func (s *Sink) findTicket(ctx context.Context, key string) (int, error) {
	q := url.Values{}
	q.Set("query", "CF.{"+s.cf+"} = '"+quoteTicketSQL(key)+"'")
	q.Set("fields", "Status")
	q.Set("orderby", "id")
	q.Set("order", "ASC")
	q.Set("per_page", "1")
	var page collection[ref]
	if err := s.cl.do(ctx, call{method: http.MethodGet, path: "/tickets?" + q.Encode()}, &page); err != nil {
		return 0, fmt.Errorf("search ticket: %w", err)
	}
	if len(page.Items) == 0 {
		return 0, nil
	}
	if page.Items[0].ID <= 0 {
		return 0, fmt.Errorf("search ticket: answer without a ticket id")
	}
	return int(page.Items[0].ID), nil
}

// quoteTicketSQL escapes s for a single-quoted TicketSQL string.
func quoteTicketSQL(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

// createTicket creates key's ticket from the change's snapshot and, when
// check is set, checks that the custom field search finds it (it returns
// the oldest ticket found).
func (s *Sink) createTicket(ctx context.Context, key string, ch *correlator.Change, check bool) (int, error) {
	body := map[string]any{
		"Queue":        s.queue,
		"ContentType":  "text/plain",
		"CustomFields": map[string]string{s.cf: key},
	}
	if p := ch.Problem; p != nil && isProblem(ch.Type) {
		body["Subject"] = problemSubject(p)
		body["Content"] = problemContent(ch)
		body["Priority"] = s.rtPriority(ch.Incident.Priority)
	} else {
		body["Subject"] = ticketSubject(&ch.Incident)
		body["Content"] = ticketContent(&ch.Incident)
		body["Priority"] = s.rtPriority(ch.Incident.Priority)
	}
	var created ref
	if err := s.cl.do(ctx, call{method: http.MethodPost, path: "/ticket", body: body}, &created); err != nil {
		return 0, fmt.Errorf("create ticket: %w", err)
	}
	if created.ID <= 0 {
		return 0, errors.New("create ticket: answer without a ticket id")
	}
	id := int(created.ID)
	if !check {
		return id, nil
	}
	found, err := s.findTicket(ctx, key)
	switch {
	case err != nil:
		// The ticket exists; the next attempt finds it or fails the same
		// check again.
		return 0, fmt.Errorf("created ticket %d: %w", id, err)
	case found == 0:
		return 0, fmt.Errorf("created ticket %d, but the search CF.{%s} does not find it: is the custom field applied to queue %q?", id, s.cf, s.queue)
	}
	s.created.Store(true)
	return found, nil
}
