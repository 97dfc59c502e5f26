package main

// Durability end to end: corrd killed with SIGKILL during a load of
// Alertmanager webhooks, restarted on the same data directory, must lose no
// acknowledged alert and deliver every incident change to its sinks once
// (after folding repeats by Idempotency-Key), with one Request Tracker ticket
// per incident.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corrd/corrd/ingest"
	"github.com/corrd/corrd/outputs/rt/rttest"
)

// rtKeyField is the RT custom field the tests' rt sinks key tickets by.
const rtKeyField = "IncidentKey"

// rtPriorities is the rt sink's default corrd -> RT priority map.
var rtPriorities = map[int]string{1: "90", 2: "70", 3: "50", 4: "30"}

// durableCorrd runs corrd again and again on one config file and one data
// directory, as a service manager restarts it.
type durableCorrd struct {
	t    *testing.T
	cfg  string // the config file
	data string // the data directory, --storage.path

	mu     sync.Mutex
	base   string   // HTTP base URL of the running corrd
	p      *process // the running corrd
	starts int
}

func newDurableCorrd(t *testing.T, cfg string) *durableCorrd {
	t.Helper()
	dir := t.TempDir()
	c := &durableCorrd{t: t, cfg: filepath.Join(dir, "corrd.yml"), data: filepath.Join(dir, "data")}
	if err := os.WriteFile(c.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// start runs corrd on a new loopback port and waits for its "corrd
// started" line. It returns the number of outbox changes its "state
// restored" line reported left by the previous run (-1: no such line).
func (c *durableCorrd) start() int {
	c.t.Helper()
	p := startProcess(c.t, corrdBinary(c.t), "--config.file="+c.cfg, "--web.listen-address=127.0.0.1:0",
		"--log.format=json", "--storage.path="+c.data)
	outbox := -1
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line := <-p.lines:
			var rec struct {
				Msg     string `json:"message"`
				Address string `json:"address"`
				Outbox  *int   `json:"outbox"`
			}
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			if rec.Msg == "state restored" && rec.Outbox != nil {
				outbox = *rec.Outbox
			}
			if rec.Msg == "corrd started" && rec.Address != "" {
				c.mu.Lock()
				c.base, c.p = "http://"+rec.Address, p
				c.starts++
				c.mu.Unlock()
				return outbox
			}
		case <-timeout:
			c.t.Fatalf("corrd (start %d) did not start:\n%s", c.starts+1, p.log())
		}
	}
}

// URL is the base URL of the running corrd.
func (c *durableCorrd) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base
}

// kill SIGKILLs the running corrd and waits for it to be gone.
func (c *durableCorrd) kill() {
	c.mu.Lock()
	p := c.p
	c.mu.Unlock()
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// stop stops the running corrd as a service manager does (SIGINT) and
// waits for it to exit.
func (c *durableCorrd) stop() {
	c.t.Helper()
	c.mu.Lock()
	p := c.p
	c.mu.Unlock()
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			c.t.Errorf("corrd exited with %v after SIGINT", err)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		c.t.Errorf("corrd did not stop within 30s of SIGINT:\n%s", p.log())
	}
}

// amAlert is one alert of the load: a device of a store, firing or
// resolved.
type amAlert struct {
	store, device string
	firing        bool
	startsAt      time.Time
	endsAt        time.Time // resolved alerts
}

func (a amAlert) key() string { return a.store + "/" + a.device }

// amWebhook renders alerts as Alertmanager's webhook (version 4) renders a
// notification of one group.
func amWebhook(alerts []amAlert) []byte {
	type alertJSON struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     string            `json:"startsAt"`
		EndsAt       string            `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	}
	msg := struct {
		Version           string            `json:"version"`
		GroupKey          string            `json:"groupKey"`
		TruncatedAlerts   int               `json:"truncatedAlerts"`
		Status            string            `json:"status"`
		Receiver          string            `json:"receiver"`
		GroupLabels       map[string]string `json:"groupLabels"`
		CommonLabels      map[string]string `json:"commonLabels"`
		CommonAnnotations map[string]string `json:"commonAnnotations"`
		ExternalURL       string            `json:"externalURL"`
		Alerts            []alertJSON       `json:"alerts"`
	}{
		Version: "4", GroupKey: `{}:{alertname="DeviceDown"}`, Status: "resolved", Receiver: "corrd",
		GroupLabels:       map[string]string{"alertname": "DeviceDown"},
		CommonLabels:      map[string]string{"alertname": "DeviceDown"},
		CommonAnnotations: map[string]string{},
		ExternalURL:       "http://alertmanager.test:9093",
	}
	for _, a := range alerts {
		labels := map[string]string{"alertname": "DeviceDown", "store": a.store, "device": a.device}
		j := alertJSON{
			Status: "resolved", Labels: labels,
			Annotations:  map[string]string{"summary": "device " + a.device + " of store " + a.store + " down"},
			StartsAt:     a.startsAt.UTC().Format(time.RFC3339Nano),
			EndsAt:       "0001-01-01T00:00:00Z",
			GeneratorURL: "http://prometheus.test:9090/graph",
			Fingerprint:  fmt.Sprintf("%016x", ingest.FingerprintOf(ingest.LabelsFromMap(labels))),
		}
		if a.firing {
			j.Status, msg.Status = "firing", "firing"
		} else {
			j.EndsAt = a.endsAt.UTC().Format(time.RFC3339Nano)
		}
		msg.Alerts = append(msg.Alerts, j)
	}
	b, err := json.Marshal(msg)
	if err != nil {
		panic(err)
	}
	return b
}

// amSender posts webhooks to whichever corrd runs, as Alertmanager does:
// a notification that got no 2xx answer is sent again until it does.
type amSender struct {
	url    func() string // the running corrd's base URL
	client *http.Client

	mu      sync.Mutex
	acked   map[string]amAlert // by amAlert.key: the last acknowledged state
	batches int                // acknowledged
	retries int                // attempts that got no 2xx
	failure error              // an answer no retry can fix (4xx)
}

func newAMSender(url func() string) *amSender {
	return &amSender{url: url, client: &http.Client{Timeout: 10 * time.Second}, acked: map[string]amAlert{}}
}

// send delivers one batch; it returns false when ctx ended first or corrd
// refused the batch for good.
func (s *amSender) send(ctx context.Context, batch []amAlert) bool {
	body := amWebhook(batch)
	for {
		if ctx.Err() != nil {
			return false
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url()+"/api/v1/ingest/alertmanager", bytes.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.client.Do(req)
		code := 0
		if err == nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
		if code >= 200 && code < 300 {
			s.mu.Lock()
			for _, a := range batch {
				s.acked[a.key()] = a
			}
			s.batches++
			s.mu.Unlock()
			return true
		}
		s.mu.Lock()
		s.retries++
		if code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
			s.failure = fmt.Errorf("corrd answered %d to %s", code, body)
			s.mu.Unlock()
			return false
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// crashPlan is the load of one worker: batches of alerts, in order.
type crashPlan [][]amAlert

// makeCrashPlans builds the load for stores split between workers: every
// device fires; the even stores' devices all resolve later (their incident
// resolves), the odd stores lose one or two alerts; three resolved stores
// get one device back (their incident reopens). Batches hold one to eight
// alerts and do not mix the phases.
func makeCrashPlans(rng *rand.Rand, stores, workers int) []crashPlan {
	plans := make([]crashPlan, workers)
	type phaseOps [3][]amAlert
	ops := make([]phaseOps, workers)
	refired := 0
	for i := range stores {
		w := i % workers
		store := fmt.Sprintf("s%03d", i+1)
		n := 4 + rng.IntN(9)
		for d := range n {
			ops[w][0] = append(ops[w][0], amAlert{store: store, device: fmt.Sprintf("pos%02d", d+1), firing: true})
		}
		switch {
		case i%2 == 0:
			for d := range n {
				ops[w][1] = append(ops[w][1], amAlert{store: store, device: fmt.Sprintf("pos%02d", d+1)})
			}
			if refired < 3 && i%4 == 0 {
				refired++
				ops[w][2] = append(ops[w][2], amAlert{store: store, device: fmt.Sprintf("pos%02d", 1+rng.IntN(n)), firing: true})
			}
		default:
			for d := range 1 + rng.IntN(2) {
				ops[w][1] = append(ops[w][1], amAlert{store: store, device: fmt.Sprintf("pos%02d", d+1)})
			}
		}
	}
	for w := range workers {
		for _, phase := range ops[w] {
			rng.Shuffle(len(phase), func(i, j int) { phase[i], phase[j] = phase[j], phase[i] })
			for len(phase) > 0 {
				n := min(len(phase), 1+rng.IntN(8))
				plans[w] = append(plans[w], phase[:n:n])
				phase = phase[n:]
			}
		}
	}
	return plans
}

// incidentDetail is what the tests read of GET /api/v1/incidents/{id}.
type incidentDetail struct {
	ID          string            `json:"id"`
	Rule        string            `json:"rule"`
	Status      string            `json:"status"`
	Priority    int               `json:"priority"`
	Revision    uint64            `json:"revision"`
	GroupLabels map[string]string `json:"group_labels"`
	SignalCount int               `json:"signal_count"`
	Signals     []struct {
		Labels map[string]string `json:"labels"`
		Status string            `json:"status"`
	} `json:"signals"`
}

// incidentDetails reads every incident corrd holds, with its signals.
func incidentDetails(t *testing.T, base string) map[string]incidentDetail {
	t.Helper()
	out := map[string]incidentDetail{}
	for _, inc := range getIncidents(t, base).Incidents {
		d, ok := getIncident(t, base, inc.ID)
		if !ok {
			t.Fatalf("incident %s listed but GET /api/v1/incidents/%s is 404", inc.ID, inc.ID)
		}
		out[inc.ID] = d
	}
	return out
}

// getIncident reads one incident; false when corrd answers 404.
func getIncident(t *testing.T, base, id string) (incidentDetail, bool) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/incidents/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d incidentDetail
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return d, false
	default:
		t.Fatalf("GET /api/v1/incidents/%s: %s", id, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d, true
}

// revisions renders every incident's id, status and revision, to see
// whether corrd is still changing.
func revisions(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/incidents")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct {
		Incidents []incidentDetail `json:"incidents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return renderRevisions(l.Incidents)
}

// renderRevisions renders incidents as "id:status:revision", sorted.
func renderRevisions(incs []incidentDetail) string {
	var parts []string
	for _, inc := range incs {
		parts = append(parts, fmt.Sprintf("%s:%s:%d", inc.ID, inc.Status, inc.Revision))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// settle waits, at most timeout, until corrd is quiet: every sink's queue
// empty and no incident changing over three polls. It reports whether it
// was.
func settle(t *testing.T, base string, sinks []string, timeout time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last, stable := "", 0
	for time.Now().Before(deadline) {
		empty := true
		for _, s := range sinks {
			if v := metricValue(t, base, `corrd_outputs_queue_depth{sink="`+s+`"} `); v != 0 {
				empty = false
			}
		}
		cur := revisions(t, base)
		if empty && cur == last {
			stable++
		} else {
			stable = 0
		}
		if stable >= 3 {
			return true
		}
		last = cur
		time.Sleep(500 * time.Millisecond)
	}
	for _, s := range sinks {
		t.Logf("queue depth of %s: %v", s, metricValue(t, base, `corrd_outputs_queue_depth{sink="`+s+`"} `))
	}
	return false
}

// delivery is one change the webhook recorder got, repeats folded.
type delivery struct {
	revision uint64
	typ      string
}

// foldDeliveries folds the recorder's repeats by Idempotency-Key and
// returns each incident's deliveries in arrival order, and the number of
// repeats. A key that does not match the body's incident and revision, or
// a repeat whose body differs, is an error.
func foldDeliveries(t *testing.T, rec *sinkRecorder) (map[string][]delivery, int) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	seen := map[string]string{} // key -> type
	out := map[string][]delivery{}
	repeats := 0
	for i, c := range rec.changes {
		inc, _ := c["incident"].(map[string]any)
		id, _ := inc["id"].(string)
		rev, _ := inc["revision"].(float64)
		typ, _ := c["type"].(string)
		key := rec.keys[i]
		if want := fmt.Sprintf("%s-%d", id, uint64(rev)); key != want {
			t.Errorf("delivery %d: Idempotency-Key %q for a %s change of %s; want %q", i, key, typ, id, want)
		}
		if prev, ok := seen[key]; ok {
			repeats++
			if prev != typ {
				t.Errorf("Idempotency-Key %s delivered as %s and as %s: one revision, two changes", key, prev, typ)
			}
			continue
		}
		seen[key] = typ
		out[id] = append(out[id], delivery{revision: uint64(rev), typ: typ})
	}
	return out, repeats
}

func TestCrashRecovery(t *testing.T) {
	rt := rttest.Start(t)
	rt.CreateCustomField(t, rtKeyField)
	corrdBinary(t) // built before the clock of the load starts

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CORRD_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CORRD_CRASH_SEED: %v", err)
		}
	}
	t.Logf("seed %d (CORRD_CRASH_SEED=%d reproduces the plan and the kill times)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x636f727264))

	// The ticketing system takes 20ms a change, and loses every tenth
	// answer after it took the change: corrd sends it again, with the same
	// Idempotency-Key.
	hook := &sinkRecorder{}
	var hookCalls atomic.Int64
	ticketing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		if hookCalls.Add(1)%10 == 0 {
			hook.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "answer lost", http.StatusBadGateway)
			return
		}
		hook.ServeHTTP(w, r)
	}))
	t.Cleanup(ticketing.Close)
	rules := writeRules(t, `
rules:
  - name: store
    match: ['alertname="DeviceDown"']
    group_by: [store]
    update_interval: 1s
    title: 'Store {{ .GroupLabels.store }}: {{ .FiringCount }} devices down'
`)
	c := newDurableCorrd(t, fmt.Sprintf(`
ingest:
  alertmanager: {}
rule_files: [%q]
outputs:
  sinks:
    - name: tickets
      type: webhook
      webhook: {url: %q, timeout: 5s}
    - name: rt
      type: rt
      rt:
        url: %q
        auth: {basic: {username: %q, password: %q}}
        custom_field: %s
        timeout: 10s
  retry: {initial_backoff: 100ms, max_backoff: 1s, max_attempts: 10000, max_retry_duration: 10m}
`, rules, ticketing.URL, rt.URL, rt.Username, rt.Password, rtKeyField))
	if n := c.start(); n > 0 {
		t.Fatalf("a new data directory has %d outbox changes", n)
	}

	// The load: two senders, each with its own stores, in parallel.
	const stores, workers = 30, 2
	plans := makeCrashPlans(rng, stores, workers)
	sender := newAMSender(c.URL)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var load sync.WaitGroup
	for w, plan := range plans {
		wrng := rand.New(rand.NewPCG(seed, uint64(w)))
		load.Go(func() {
			firedAt := map[string]time.Time{}
			for _, batch := range plan {
				now := time.Now()
				for i := range batch {
					a := &batch[i]
					if a.firing {
						a.startsAt, firedAt[a.key()] = now, now
					} else {
						a.startsAt, a.endsAt = firedAt[a.key()], now
					}
				}
				if !sender.send(ctx, batch) {
					return
				}
				time.Sleep(time.Duration(200+wrng.IntN(200)) * time.Millisecond)
			}
		})
	}
	loadDone := make(chan struct{})
	go func() { load.Wait(); close(loadDone) }()

	// SIGKILL corrd 3 or 4 times at random moments of the load, and start
	// it again on the same data directory at once.
	kills := 3 + rng.IntN(2)
	start := time.Now()
	var killedAt []string
	for i := range kills {
		time.Sleep(time.Duration(1000+rng.IntN(3500)) * time.Millisecond)
		c.kill()
		killedAt = append(killedAt, time.Since(start).Round(time.Millisecond).String())
		outbox := c.start()
		t.Logf("kill %d at %s; restarted at %s with %d outbox changes left", i+1, killedAt[i], c.URL(), outbox)
	}
	select {
	case <-loadDone:
	case <-time.After(60 * time.Second):
		cancel()
		<-loadDone
		t.Fatal("the load did not finish within 60s")
	}
	sender.mu.Lock()
	t.Logf("load: %d alerts acknowledged in %d batches, %d attempts retried, done %s after the start; kills at %v",
		len(sender.acked), sender.batches, sender.retries, time.Since(start).Round(time.Millisecond), killedAt)
	if sender.failure != nil {
		t.Fatalf("load: %v", sender.failure)
	}
	acked := slices.SortedFunc(maps.Values(sender.acked), func(a, b amAlert) int { return strings.Compare(a.key(), b.key()) })
	sender.mu.Unlock()

	base := c.URL()
	if !settle(t, base, []string{"tickets", "rt"}, 60*time.Second) {
		t.Errorf("corrd did not settle within 60s (queues empty, incidents unchanged)")
	}
	incs := incidentDetails(t, base)
	t.Logf("%d incidents; settled %s after the start", len(incs), time.Since(start).Round(time.Millisecond))

	// Every acknowledged alert is a signal of its store's incident, in the
	// state last acknowledged.
	type held struct{ id, status string }
	signals := map[string][]held{}
	for id, inc := range incs {
		for _, s := range inc.Signals {
			k := s.Labels["store"] + "/" + s.Labels["device"]
			signals[k] = append(signals[k], held{id, s.Status})
		}
	}
	lost := 0
	for _, a := range acked {
		want := "resolved"
		if a.firing {
			want = "firing"
		}
		hs := signals[a.key()]
		switch {
		case len(hs) == 0:
			lost++
			t.Errorf("acknowledged alert %s (%s) is in no incident", a.key(), want)
		case !slices.ContainsFunc(hs, func(h held) bool { return h.status == want }):
			lost++
			t.Errorf("acknowledged alert %s: last acknowledged %s, but its signals are %v", a.key(), want, hs)
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged alerts lost or stale", lost, len(acked))
	}
	storesSeen := map[string][]string{}
	for id, inc := range incs {
		storesSeen[inc.GroupLabels["store"]] = append(storesSeen[inc.GroupLabels["store"]], id)
	}
	for st, ids := range storesSeen {
		if len(ids) != 1 {
			t.Errorf("store %s has %d incidents %v; want one", st, len(ids), ids)
		}
	}

	// The webhook: one opened per incident, revisions in order, none twice,
	// up to corrd's current one.
	byIncident, repeats := foldDeliveries(t, hook)
	t.Logf("webhook: %d deliveries, %d repeats folded by Idempotency-Key", len(hook.keys), repeats)
	for id, ds := range byIncident {
		if _, ok := incs[id]; !ok {
			t.Errorf("the webhook got changes %v of incident %s, which corrd does not have", ds, id)
		}
	}
	for id, inc := range incs {
		ds := byIncident[id]
		opened := 0
		for i, d := range ds {
			if d.typ == "opened" {
				opened++
			}
			if i > 0 && d.revision <= ds[i-1].revision {
				t.Errorf("incident %s: revision %d (%s) delivered after revision %d: %v", id, d.revision, d.typ, ds[i-1].revision, ds)
			}
		}
		if opened != 1 {
			t.Errorf("incident %s: %d opened changes at the webhook; want 1: %v", id, opened, ds)
		}
		if len(ds) == 0 || ds[len(ds)-1].revision != inc.Revision {
			t.Errorf("incident %s: last revision at the webhook %v; corrd is at revision %d", id, ds, inc.Revision)
		}
	}

	// RT: one ticket per incident, in the incident's state, and no other.
	rtStart := time.Now()
	twice := 0
	for id, tk := range checkRTTickets(t, rt, incs) {
		// A comment applied twice is a change applied twice: a change
		// resumed after a crash looks its comment up before posting.
		subjects := map[string]int{}
		for _, tx := range rt.History(t, tk) {
			if tx.Type == "Comment" {
				subjects[tx.Data]++
			}
		}
		for s, n := range subjects {
			if n > 1 {
				twice++
				t.Errorf("ticket %d of incident %s (revision %d) has the comment %q %d times", tk, id, incs[id].Revision, s, n)
			}
		}
	}
	if all := rt.Tickets(t, "id > 0"); len(all) != len(incs) {
		t.Errorf("RT holds %d tickets; corrd has %d incidents", len(all), len(incs))
	}
	t.Logf("RT checked in %s; %d comments applied more than once", time.Since(rtStart).Round(time.Millisecond), twice)

	// A clean restart finds nothing left to deliver and the same incidents.
	restart := time.Now()
	c.stop()
	if n := c.start(); n != 0 {
		t.Errorf("after a settled run and a clean stop, corrd restarted with %d outbox changes; want 0", n)
	}
	if got, want := revisions(t, c.URL()), renderRevisions(slices.Collect(maps.Values(incs))); got != want {
		t.Errorf("incidents after a clean restart:\n%s\nwant\n%s", got, want)
	}
	t.Logf("clean restart in %s", time.Since(restart).Round(time.Millisecond))
}

// checkRTTickets checks that every incident has exactly one RT ticket, in
// its status (resolved incidents, resolved tickets) and at its priority. It
// returns the ticket of each incident that has one.
func checkRTTickets(t *testing.T, rt *rttest.Server, incs map[string]incidentDetail) map[string]int {
	t.Helper()
	tickets := map[string]int{}
	for id, inc := range incs {
		ids := rt.TicketsByKey(t, rtKeyField, id)
		if len(ids) != 1 {
			t.Errorf("incident %s (%s, revision %d): RT tickets %v; want exactly one", id, inc.Status, inc.Revision, ids)
			continue
		}
		tickets[id] = ids[0]
		tk := rt.Ticket(t, ids[0])
		switch inc.Status {
		case "resolved", "closed":
			if tk.Status != "resolved" {
				t.Errorf("incident %s is %s; its ticket %d is %q", id, inc.Status, ids[0], tk.Status)
			}
		default:
			if tk.Status != "new" && tk.Status != "open" {
				t.Errorf("incident %s is %s; its ticket %d is %q", id, inc.Status, ids[0], tk.Status)
			}
		}
		if want := rtPriorities[inc.Priority]; tk.Priority != want {
			t.Errorf("incident %s has priority %d; its ticket %d has RT priority %s, want %s", id, inc.Priority, ids[0], tk.Priority, want)
		}
	}
	return tickets
}
