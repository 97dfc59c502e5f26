// Package rttest runs a real Request Tracker 5 for tests, as net/http/httptest
// runs an HTTP server: Start initialises an RT on SQLite with all its state
// in a temporary directory and serves it on a loopback port until the test
// ends.
//
// It needs the programs of Debian's request-tracker5, rt5-db-sqlite and
// rt5-standalone packages. Without them Start skips the test, or fails it
// when the environment sets CORRD_E2E=require (as .ci/run does).
//
// The helpers that read or change RT take the calling test's t and fail it
// on any error; Stop and Restart use the t given to Start and must be called
// from its goroutine.
package rttest

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
)

// The programs of Debian's request-tracker5, rt5-db-sqlite and
// rt5-standalone packages, by name on PATH or at their packaged paths.
var (
	serverProgs = []string{"rt-server", "/usr/share/request-tracker5/libexec/rt-server"}
	setupProgs  = []string{"rt-setup-database-5", "/usr/sbin/rt-setup-database-5"}
)

// Root's credentials in every Server.
const (
	RootUser     = "root"
	RootPassword = "testpass123"
)

// install is how to get the programs.
const install = "apt-get install -y --no-install-recommends request-tracker5 rt5-db-sqlite rt5-standalone"

// readyTimeout bounds the wait for rt-server to answer after a (re)start.
const readyTimeout = 90 * time.Second

// Server is a Request Tracker 5 on SQLite serving on a loopback port.
type Server struct {
	// URL is RT's base URL (its WebBaseURL), e.g. http://127.0.0.1:40123:
	// what the rt sink's `url` takes. REST2 is under URL + "/REST/2.0".
	URL string
	// Username and Password are the superuser's (root) credentials, for
	// HTTP basic authentication.
	Username, Password string

	t       testing.TB
	port    int
	program string
	env     []string
	client  *http.Client

	mu      sync.Mutex
	out     bytes.Buffer  // rt-server's output, over every start
	cmd     *exec.Cmd     // the running rt-server; nil when stopped
	exited  chan struct{} // closed when cmd has exited
	started int           // starts so far
}

// need finds one of progs (by name on PATH or by path); it skips t (or,
// under CORRD_E2E=require, fails it) when none is installed, and in -short
// mode. CORRD_E2E=off counts RT as not installed.
func need(t testing.TB, progs ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with Request Tracker skipped in -short mode")
	}
	candidates := progs
	if os.Getenv("CORRD_E2E") == "off" {
		candidates = nil
	}
	for _, p := range candidates {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CORRD_E2E") == "require" {
		t.Fatalf("%s is required (CORRD_E2E=require) but not installed; %s", progs[0], install)
	}
	t.Skipf("Request Tracker 5 not installed (%s not found); %s (.ci/run does)", progs[0], install)
	return ""
}

// Start initialises an RT database in a temporary directory and starts
// rt-server on a free loopback port; it returns once REST2 answers. The
// test's cleanup stops the server's whole process group and, when the test
// failed, logs rt-server's output. Start skips t when RT is not installed
// (or fails it under CORRD_E2E=require).
func Start(t testing.TB) *Server {
	t.Helper()
	server := need(t, serverProgs...)
	setup := need(t, setupProgs...)
	start := time.Now()

	dir := t.TempDir()
	for _, d := range []string{"conf.d", "var", "mason_data", "session_data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port := freeLoopbackPort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	// BcryptCost 4, bcrypt's least, is for speed: RT checks the password of
	// every basic-auth request, which at the default 12 costs a quarter of
	// a second and serialises on the one worker.
	conf := fmt.Sprintf(`$RT::VarPath='%[1]s/var'; $RT::MasonDataDir='%[1]s/mason_data'; $RT::MasonSessionDir='%[1]s/session_data';
Set($rtname,'rt.test'); Set($Organization,'test.local'); Set($Timezone,'UTC');
Set($DatabaseType,'SQLite'); Set($DatabaseName,'%[1]s/rtdb');
Set($DatabaseHost,'localhost'); Set($DatabaseUser,''); Set($DatabasePassword,'');
Set($WebDomain,'127.0.0.1'); Set($WebPort,%[2]d); Set($WebPath,''); Set($WebBaseURL,'%[3]s');
Set($CorrespondAddress,'rt\@test.local'); Set($CommentAddress,'rt-comment\@test.local');
Set($MailCommand,'mbox'); Set($LogToSyslog,undef); Set($LogToFile,undef); Set($LogToSTDERR,'warning');
Set($BcryptCost,4);
1;
`, dir, port, base)
	files := map[string]string{"RT_SiteConfig.pm": conf, "rootpw": RootPassword + "\n"}
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

	s := &Server{
		URL: base, Username: RootUser, Password: RootPassword,
		t: t, port: port, program: server, env: env,
		client: &http.Client{Timeout: 30 * time.Second},
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("rt-server output:\n%s", s.Log())
		}
	})
	s.launch()
	t.Logf("RT 5 on SQLite ready at %s in %s (database setup %s)", base, time.Since(start).Round(time.Millisecond), setupTook.Round(time.Millisecond))
	return s
}

func freeLoopbackPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// REST2 is the base URL of RT's REST2 API.
func (s *Server) REST2() string { return s.URL + "/REST/2.0" }

// Log returns what rt-server wrote so far, over every start.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// logWriter appends rt-server's output to s.out.
type logWriter struct{ s *Server }

func (w logWriter) Write(b []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.out.Write(b)
}

// Running reports whether rt-server runs (it was started and not stopped).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Stop stops rt-server and its workers: SIGTERM to its process group,
// SIGKILL after 10 seconds. Its port then refuses connections until
// Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.t.Helper()
	s.stop()
}

// Restart starts rt-server again, on the same port and database, after
// stopping it if it runs; it returns once REST2 answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.stop()
	s.launch()
}

// launch starts rt-server and waits until it answers. Another process may
// briefly hold the port after a stop: a server that exits at once is
// started again until the deadline.
func (s *Server) launch() {
	s.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for attempt := 1; ; attempt++ {
		exited := s.spawn()
		ready, why := s.waitReady(exited, deadline)
		if ready {
			return
		}
		if attempt == 5 || time.Now().After(deadline) || why != "exited" {
			s.t.Fatalf("rt-server on port %d not ready: %s:\n%s", s.port, why, s.Log())
		}
		// It exited before answering (the port still in use?): try again.
		time.Sleep(500 * time.Millisecond)
	}
}

// spawn starts one rt-server process in its own process group.
func (s *Server) spawn() <-chan struct{} {
	s.t.Helper()
	srv := exec.Command(s.program, "--host", "127.0.0.1", "--port", strconv.Itoa(s.port), "--max-workers", "1")
	srv.Env = s.env
	srv.Stdout, srv.Stderr = logWriter{s}, logWriter{s}
	// Its own process group, so that stopping it stops the workers too.
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.mu.Lock()
	s.started++
	fmt.Fprintf(&s.out, "--- rttest: start %d of rt-server on port %d at %s\n", s.started, s.port, time.Now().Format(time.RFC3339Nano))
	s.mu.Unlock()
	if err := srv.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.program, err)
	}
	exited := make(chan struct{})
	go func() { _ = srv.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = srv, exited
	s.mu.Unlock()
	return exited
}

// waitReady polls REST2 until it answers 200, the process exits or the
// deadline passes.
func (s *Server) waitReady(exited <-chan struct{}, deadline time.Time) (bool, string) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		code, _, err := s.API(http.MethodGet, "/queues/all", nil)
		if err == nil && code == http.StatusOK {
			return true, ""
		}
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return false, "exited"
		case <-timer.C:
			return false, fmt.Sprintf("no answer after %s (last: %d, %v)", readyTimeout, code, err)
		case <-tick.C:
		}
	}
}

// stop ends the running rt-server's process group, if any.
func (s *Server) stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	// Workers that outlived the leader.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	s.mu.Lock()
	fmt.Fprintf(&s.out, "--- rttest: rt-server stopped at %s\n", time.Now().Format(time.RFC3339Nano))
	s.mu.Unlock()
}

// API calls REST2 as root and returns the status and body. path is under
// /REST/2.0 ("/ticket/7"); body, when not nil, is sent as JSON.
func (s *Server) API(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.REST2()+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(s.Username, s.Password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Get decodes the 200 answer of a REST2 GET of path into out; anything else
// fails t.
func (s *Server) Get(t testing.TB, path string, out any) {
	t.Helper()
	code, b, err := s.API(http.MethodGet, path, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("RT: GET %s = %d, %v: %s", path, code, err, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("RT: GET %s: %v: %s", path, err, b)
	}
}

// CreateCustomField creates a global single-value freeform ticket custom
// field, such as the one the rt sink keys its tickets by.
func (s *Server) CreateCustomField(t testing.TB, name string) {
	t.Helper()
	code, b, err := s.API(http.MethodPost, "/customfield", map[string]any{
		"Name": name, "Type": "Freeform", "MaxValues": 1, "LookupType": "RT::Queue-RT::Ticket", "Queue": 0,
	})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("RT: create custom field %s = %d, %v: %s", name, code, err, b)
	}
}

// ref is a record reference in REST2 answers; RT renders ids as strings
// in some answers and as numbers in others.
type ref struct {
	ID json.RawMessage `json:"id"`
}

// page is one page of a REST2 collection.
type page[T any] struct {
	Items []T             `json:"items"`
	Page  json.RawMessage `json:"page"`
	Pages json.RawMessage `json:"pages"` // RT renders 0 pages as 0.0
}

// last reports whether p is the last page.
func (p *page[T]) last() bool {
	n, _ := strconv.ParseFloat(scalar(p.Page), 64)
	of, _ := strconv.ParseFloat(scalar(p.Pages), 64)
	return len(p.Items) == 0 || n >= of
}

// TicketsByKey returns the ids of the tickets whose custom field cf holds
// key, oldest first.
func (s *Server) TicketsByKey(t testing.TB, cf, key string) []int {
	t.Helper()
	return s.Tickets(t, "CF.{"+cf+"} = '"+key+"'")
}

// Tickets returns the ids of the tickets a TicketSQL query finds ("Queue =
// 'General'", "id > 0"), oldest first, every page of them.
func (s *Server) Tickets(t testing.TB, query string) []int {
	t.Helper()
	q := url.Values{
		"query":   {query},
		"orderby": {"id"}, "order": {"ASC"},
		"per_page": {"100"},
	}
	var ids []int
	for n := 1; ; n++ {
		q.Set("page", strconv.Itoa(n))
		var p page[ref]
		s.Get(t, "/tickets?"+q.Encode(), &p)
		for _, it := range p.Items {
			id, err := strconv.Atoi(scalar(it.ID))
			if err != nil {
				t.Fatalf("RT: ticket search %q: id %s: %v", query, it.ID, err)
			}
			ids = append(ids, id)
		}
		if p.last() {
			return ids
		}
	}
}

// Ticket is what the tests read of a ticket. RT renders Priority as a
// string ("50").
type Ticket struct {
	Status   string
	Priority string
	Subject  string
}

// Ticket reads ticket id.
func (s *Server) Ticket(t testing.TB, id int) Ticket {
	t.Helper()
	var tk Ticket
	s.Get(t, "/ticket/"+strconv.Itoa(id), &tk)
	return tk
}

// Transaction is one entry of a ticket's history: its Type (Create,
// Comment, Status, Set, CustomField...) and Data (a comment's subject).
type Transaction struct {
	Type string
	Data string
}

// History is a ticket's transactions, oldest first.
type History []Transaction

// Count returns the number of transactions of type typ ("Comment").
func (h History) Count(typ string) int {
	n := 0
	for _, tx := range h {
		if tx.Type == typ {
			n++
		}
	}
	return n
}

// History returns ticket id's transactions, every page of them.
func (s *Server) History(t testing.TB, id int) History {
	t.Helper()
	var out History
	for n := 1; ; n++ {
		var p page[map[string]json.RawMessage]
		s.Get(t, "/ticket/"+strconv.Itoa(id)+"/history?fields=Type,Data&per_page=100&page="+strconv.Itoa(n), &p)
		for _, it := range p.Items {
			out = append(out, Transaction{Type: scalar(it["Type"]), Data: strings.TrimSpace(scalar(it["Data"]))})
		}
		if p.last() {
			return out
		}
	}
}

// scalar renders a JSON string or number as text; "" for anything else.
func scalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
