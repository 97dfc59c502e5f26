package rt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corrd/corrd/correlator"
)

// The programs of Debian's request-tracker5, rt5-db-sqlite and
// rt5-standalone packages, by name on PATH or at their packaged paths.
var (
	rtServerProgs = []string{"rt-server", "/usr/share/request-tracker5/libexec/rt-server"}
	rtSetupProgs  = []string{"rt-setup-database-5", "/usr/sbin/rt-setup-database-5"}
)

const rtRootPassword = "testpass123"

// needRTProgram finds one of progs; it skips the test (or, under
// CORRD_E2E=require, fails it) when none is installed.
func needRTProgram(t *testing.T, progs ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	for _, p := range progs {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	const install = "apt-get install -y --no-install-recommends request-tracker5 rt5-db-sqlite rt5-standalone"
	if os.Getenv("CORRD_E2E") == "require" {
		t.Fatalf("%s is required (CORRD_E2E=require) but not installed; %s", progs[0], install)
	}
	t.Skipf("Request Tracker 5 not installed (%s not found); %s (.ci/run does)", progs[0], install)
	return ""
}

// realRT is a Request Tracker 5 on SQLite, with all its state in a
// temporary directory, serving on a loopback port.
type realRT struct {
	URL string // the base URL; REST2 is under /REST/2.0

	mu  sync.Mutex
	out bytes.Buffer
}

func (r *realRT) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.Write(b)
}

func (r *realRT) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// startRT initialises an RT database and starts rt-server; cleanup stops
// the server's whole process group.
func startRT(t *testing.T) *realRT {
	t.Helper()
	server := needRTProgram(t, rtServerProgs...)
	setup := needRTProgram(t, rtSetupProgs...)
	start := time.Now()

	dir := t.TempDir()
	for _, d := range []string{"conf.d", "var", "mason_data", "session_data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port := freeLoopbackPort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	conf := fmt.Sprintf(`$RT::VarPath='%[1]s/var'; $RT::MasonDataDir='%[1]s/mason_data'; $RT::MasonSessionDir='%[1]s/session_data';
Set($rtname,'rt.test'); Set($Organization,'test.local'); Set($Timezone,'UTC');
Set($DatabaseType,'SQLite'); Set($DatabaseName,'%[1]s/rtdb');
Set($DatabaseHost,'localhost'); Set($DatabaseUser,''); Set($DatabasePassword,'');
Set($WebDomain,'127.0.0.1'); Set($WebPort,%[2]d); Set($WebPath,''); Set($WebBaseURL,'%[3]s');
Set($CorrespondAddress,'rt\@test.local'); Set($CommentAddress,'rt-comment\@test.local');
Set($MailCommand,'mbox'); Set($LogToSyslog,undef); Set($LogToFile,undef); Set($LogToSTDERR,'warning');
1;
`, dir, port, base)
	files := map[string]string{"RT_SiteConfig.pm": conf, "rootpw": rtRootPassword + "\n"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(),
		"RT_SITE_CONFIG="+filepath.Join(dir, "RT_SiteConfig.pm"),
		// Without it RT reads the packaged site config directory.
		"RT_SITE_CONFIG_DIR="+filepath.Join(dir, "conf.d"),
	)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, setup, "--action", "init", "--skip-create",
		"--root-password-file", filepath.Join(dir, "rootpw"))
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", setup, err, out)
	}
	setupTook := time.Since(start)

	rt := &realRT{URL: base}
	srv := exec.Command(server, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--max-workers", "1")
	srv.Env = env
	srv.Stdout, srv.Stderr = rt, rt
	// Its own process group, so cleanup stops the workers too.
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := srv.Start(); err != nil {
		t.Fatalf("start %s: %v", server, err)
	}
	exited := make(chan struct{})
	go func() { _ = srv.Wait(); close(exited) }()
	t.Cleanup(func() {
		pgid := srv.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
		// Workers that outlived the leader.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("rt-server output:\n%s", rt.log())
		}
	})

	deadline := time.NewTimer(90 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		code, _, err := rt.api(http.MethodGet, "/queues/all", nil)
		if err == nil && code == http.StatusOK {
			break
		}
		select {
		case <-exited:
			t.Fatalf("rt-server exited before it was ready:\n%s", rt.log())
		case <-deadline.C:
			t.Fatalf("rt-server not ready after 90s (last: %d, %v):\n%s", code, err, rt.log())
		case <-tick.C:
		}
	}
	t.Logf("RT 5 on SQLite ready at %s in %s (database setup %s)", base, time.Since(start).Round(time.Millisecond), setupTook.Round(time.Millisecond))
	return rt
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// api calls REST2 as root and returns the status and body.
func (r *realRT) api(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.URL+"/REST/2.0"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth("root", rtRootPassword)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// get decodes a 200 answer of path into out.
func (r *realRT) get(t *testing.T, path string, out any) {
	t.Helper()
	code, b, err := r.api(http.MethodGet, path, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s = %d, %v: %s", path, code, err, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

// createCustomField creates a global single-value freeform ticket field.
func (r *realRT) createCustomField(t *testing.T, name string) {
	t.Helper()
	code, b, err := r.api(http.MethodPost, "/customfield", map[string]any{
		"Name": name, "Type": "Freeform", "MaxValues": 1, "LookupType": "RT::Queue-RT::Ticket", "Queue": 0,
	})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create custom field %s = %d, %v: %s", name, code, err, b)
	}
}

// ticketsByKey returns the ids of the tickets whose field cf holds key.
func (r *realRT) ticketsByKey(t *testing.T, cf, key string) []int {
	t.Helper()
	var page collection[ref]
	r.get(t, "/tickets?"+url.Values{"query": {"CF.{" + cf + "} = '" + key + "'"}}.Encode(), &page)
	var ids []int
	for _, it := range page.Items {
		ids = append(ids, int(it.ID))
	}
	return ids
}

type rtTicket struct {
	Status   string
	Priority string
	Subject  string
}

func (r *realRT) ticket(t *testing.T, id int) rtTicket {
	t.Helper()
	var tk rtTicket
	r.get(t, "/ticket/"+strconv.Itoa(id), &tk)
	return tk
}

// history returns the ticket's transactions as (Type, Data) pairs.
func (r *realRT) history(t *testing.T, id int) [][2]string {
	t.Helper()
	var page collection[map[string]json.RawMessage]
	r.get(t, "/ticket/"+strconv.Itoa(id)+"/history?fields=Type,Data&per_page=100", &page)
	var out [][2]string
	for _, it := range page.Items {
		out = append(out, [2]string{jsonScalar(it["Type"]), strings.TrimSpace(jsonScalar(it["Data"]))})
	}
	return out
}

func commentCount(h [][2]string) int {
	n := 0
	for _, tx := range h {
		if tx[0] == "Comment" {
			n++
		}
	}
	return n
}

// The sink against a real Request Tracker 5: one start, several cases.
func TestRealRT(t *testing.T) {
	rt := startRT(t)
	rt.createCustomField(t, DefaultCustomField)
	rootAuth := Auth{Basic: &Basic{Username: "root", Password: rtRootPassword}}
	newRealSink := func(t *testing.T, edit func(*Config), opts ...Option) *Sink {
		t.Helper()
		cfg := Config{URL: rt.URL, Auth: rootAuth}
		if edit != nil {
			edit(&cfg)
		}
		s, err := New("rt", cfg, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	t.Run("lifecycle", func(t *testing.T) {
		s := newRealSink(t, nil)
		const key = "inc-00000000000000e1"
		l := newLifecycle(key)
		resolve := func(inc *correlator.Incident, _ *correlator.Change) { inc.Status = correlator.StatusResolved }
		changes := []correlator.Change{
			l.next(correlator.ChangeOpened, nil),
			l.next(correlator.ChangeUpdated, func(inc *correlator.Incident, _ *correlator.Change) { inc.SignalCount = 2 }),
			l.next(correlator.ChangePriorityChanged, func(inc *correlator.Incident, ch *correlator.Change) {
				ch.PreviousPriority, inc.Priority, inc.PriorityName = inc.Priority, 1, "critical"
			}),
			l.next(correlator.ChangeResolved, resolve),
			l.next(correlator.ChangeReopened, func(inc *correlator.Incident, _ *correlator.Change) { inc.Status = correlator.StatusOpen }),
			l.next(correlator.ChangeResolved, resolve),
		}
		var id int
		for i, ch := range changes {
			deliver(t, s, ch)
			if i == 0 {
				ids := rt.ticketsByKey(t, DefaultCustomField, key)
				if len(ids) != 1 {
					t.Fatalf("tickets with key after opened = %v; want one", ids)
				}
				id = ids[0]
				if tk := rt.ticket(t, id); tk.Status != "new" || tk.Priority != "50" || tk.Subject != "Store s042 down" {
					t.Errorf("ticket after opened = %+v; want new, 50, the title", tk)
				}
			}
			if ch.Type == correlator.ChangeReopened {
				if tk := rt.ticket(t, id); tk.Status != "open" {
					t.Errorf("status after reopened = %q; want open", tk.Status)
				}
			}
		}
		tk := rt.ticket(t, id)
		if tk.Status != "resolved" || tk.Priority != "90" {
			t.Errorf("ticket at the end = %+v; want resolved, priority 90", tk)
		}
		h := rt.history(t, id)
		if n := commentCount(h); n != 5 {
			t.Errorf("comments = %d; want 5 (updated, priority_changed, resolved, reopened, resolved): %q", n, h)
		}
		var statuses int
		for _, tx := range h {
			if tx[0] == "Status" {
				statuses++
			}
		}
		if statuses != 3 {
			t.Errorf("status transactions = %d; want 3 (resolved, open, resolved): %q", statuses, h)
		}
		if got := rt.ticketsByKey(t, DefaultCustomField, key); len(got) != 1 {
			t.Errorf("tickets with key at the end = %v; want one", got)
		}
	})

	t.Run("idempotent create", func(t *testing.T) {
		const key = "inc-00000000000000e2"
		opened := newLifecycle(key).next(correlator.ChangeOpened, nil)
		s := newRealSink(t, nil)
		deliver(t, s, opened)
		deliver(t, s, opened)
		// A restarted daemon forgot the ticket id: it finds it by key.
		deliver(t, newRealSink(t, nil), opened)
		if got := rt.ticketsByKey(t, DefaultCustomField, key); len(got) != 1 {
			t.Errorf("tickets with key = %v; want one", got)
		}
	})

	t.Run("lost comment answer is not repeated", func(t *testing.T) {
		const key = "inc-00000000000000e3"
		s := newRealSink(t, nil)
		l := newLifecycle(key)
		deliver(t, s, l.next(correlator.ChangeOpened, nil))
		updated := l.next(correlator.ChangeUpdated, nil)
		deliver(t, s, updated)
		id := rt.ticketsByKey(t, DefaultCustomField, key)[0]
		// As if the answer to the comment had been lost: the retry must
		// find the comment in the real history.
		s.setUnsure(strconv.Itoa(id)+" "+commentSubject(&updated), true)
		deliver(t, s, updated)
		if n := commentCount(rt.history(t, id)); n != 1 {
			t.Errorf("comments = %d; want 1", n)
		}
	})

	t.Run("unknown ticket is recreated", func(t *testing.T) {
		const key = "inc-00000000000000e4"
		ids := &MemoryTicketIDs{}
		_ = ids.Put(key, 99999)
		s := newRealSink(t, nil, WithTicketIDs(ids))
		deliver(t, s, newLifecycle(key).next(correlator.ChangeUpdated, nil))
		got := rt.ticketsByKey(t, DefaultCustomField, key)
		if id, _, _ := ids.Get(key); len(got) != 1 || got[0] != id {
			t.Errorf("tickets with key = %v, remembered %d; want one, remembered", got, id)
		}
	})

	t.Run("refused update answered 200", func(t *testing.T) {
		const key = "inc-00000000000000e5"
		s := newRealSink(t, nil)
		deliver(t, s, newLifecycle(key).next(correlator.ChangeOpened, nil))
		id := rt.ticketsByKey(t, DefaultCustomField, key)[0]
		err := s.setField(context.Background(), id, "Status", "bogus")
		if err == nil || isRetryable(err) || !strings.Contains(err.Error(), "isn't a valid status") {
			t.Errorf("set Status bogus = %v (retryable %v); want a permanent error with RT's message", err, isRetryable(err))
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		s := newRealSink(t, func(c *Config) { c.Auth.Basic = &Basic{Username: "root", Password: "wrong"} })
		retryable, err := s.Deliver(context.Background(), newLifecycle("inc-00000000000000e6").next(correlator.ChangeOpened, nil))
		if err == nil || retryable || !strings.Contains(err.Error(), "401") {
			t.Errorf("Deliver = %v, %v; want a permanent 401", retryable, err)
		}
	})

	t.Run("create_custom_field", func(t *testing.T) {
		const key = "inc-00000000000000e7"
		s := newRealSink(t, func(c *Config) { c.CustomField = "CorrdKey"; c.CreateCustomField = true })
		deliver(t, s, newLifecycle(key).next(correlator.ChangeOpened, nil))
		if got := rt.ticketsByKey(t, "CorrdKey", key); len(got) != 1 {
			t.Errorf("tickets with CorrdKey = %v; want one", got)
		}
	})
}
