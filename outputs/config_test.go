package outputs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/outputs/jsonl"
	"github.com/corrd/corrd/outputs/rt"
	"github.com/corrd/corrd/outputs/webhook"
	"github.com/corrd/corrd/rules"
)

// decode reads the outputs section of a config strictly.
func decode(t *testing.T, text string) (Config, error) {
	t.Helper()
	var doc struct {
		Outputs Config `yaml:"outputs"`
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	err := dec.Decode(&doc)
	return doc.Outputs, err
}

const reference = `
outputs:
  sinks:
    - name: tickets
      type: webhook
      webhook:
        url: http://itsm.example/api/incidents
        timeout: 10s
        headers: {X-A: b}
        bearer_token: secret
        template: '{"id": {{json .Incident.ID}}}'
        content_type: application/json
    - name: stdout
      type: jsonl
      jsonl: {path: "-"}
    - name: rt
      type: rt
      rt:
        url: http://127.0.0.1:18080
        queue: Incidents
        auth: {basic: {username: corrd, password_file: /etc/corrd/rt.pw}}
        custom_field: CorrdKey
        create_custom_field: true
        timeout: 5s
        priorities: {1: 99, 4: 10}
        problems: true
  routes:
    - match: ['priority=~"1|2"', 'rule="fleet"']
      sinks: [tickets]
      continue: true
    - sinks: [stdout]
  retry: {initial_backoff: 500ms, max_backoff: 30s, max_attempts: 10, max_retry_duration: 1h}
`

func TestDecodeReference(t *testing.T) {
	cfg, err := decode(t, reference)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Sinks: []SinkConfig{
			{Name: "tickets", Type: SinkWebhook, Webhook: &webhook.Config{
				URL:         "http://itsm.example/api/incidents",
				Timeout:     rules.Duration(10 * time.Second),
				Headers:     map[string]string{"X-A": "b"},
				BearerToken: "secret",
				Template:    `{"id": {{json .Incident.ID}}}`,
				ContentType: "application/json",
			}},
			{Name: "stdout", Type: SinkJSONL, JSONL: &jsonl.Config{Path: "-"}},
			{Name: "rt", Type: SinkRT, RT: &rt.Config{
				URL:               "http://127.0.0.1:18080",
				Queue:             "Incidents",
				Auth:              rt.Auth{Basic: &rt.Basic{Username: "corrd", PasswordFile: "/etc/corrd/rt.pw"}},
				CustomField:       "CorrdKey",
				CreateCustomField: true,
				Timeout:           rules.Duration(5 * time.Second),
				Priorities:        map[int]int{1: 99, 4: 10},
				Problems:          true,
			}},
		},
		Routes: []Route{
			{Match: []string{`priority=~"1|2"`, `rule="fleet"`}, Sinks: []string{"tickets"}, Continue: true},
			{Sinks: []string{"stdout"}},
		},
		Retry: RetryConfig{
			InitialBackoff:   rules.Duration(500 * time.Millisecond),
			MaxBackoff:       rules.Duration(30 * time.Second),
			MaxAttempts:      10,
			MaxRetryDuration: rules.Duration(time.Hour),
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", cfg, want)
	}
	if err := cfg.Validate("outputs"); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{
			name:    "unknown sink type",
			yaml:    "outputs:\n  sinks:\n    - name: k\n      type: kafka\n",
			wantErr: `line 4: unknown sink type "kafka" (want webhook, jsonl or rt)`,
		},
		{
			name:    "unknown field",
			yaml:    "outputs:\n  sinks:\n    - name: k\n      type: jsonl\n      jsonl: {path: x, rotate: true}\n",
			wantErr: "field rotate not found",
		},
		{
			name:    "bad duration",
			yaml:    "outputs:\n  retry: {initial_backoff: soon}\n",
			wantErr: `invalid duration "soon"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(t, tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("decode error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateRT(t *testing.T) {
	cfg := Config{Sinks: []SinkConfig{
		{Name: "a", Type: SinkRT},
		{Name: "b", Type: SinkRT, RT: &rt.Config{URL: "ftp://rt"}},
		{Name: "c", Type: SinkJSONL, JSONL: &jsonl.Config{Path: "-"}, RT: &rt.Config{}},
	}}
	want := []string{
		`outputs.sinks[0] "a": rt is required for type rt`,
		`outputs.sinks[1] "b": rt.url "ftp://rt": scheme must be http or https`,
		`outputs.sinks[1] "b": rt.auth: token, token_file or basic is required`,
		`outputs.sinks[2] "c": rt is set but type is "jsonl"`,
	}
	err := cfg.Validate("outputs")
	if err == nil {
		t.Fatal("Validate = nil; want errors")
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("Validate =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidate(t *testing.T) {
	hook := func(url string) *webhook.Config { return &webhook.Config{URL: url} }
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{name: "empty is valid", cfg: Config{}},
		{
			name: "sinks",
			cfg: Config{Sinks: []SinkConfig{
				{Name: "stdout", Type: SinkJSONL, JSONL: &jsonl.Config{Path: "-"}},
				{Name: "tickets", Type: SinkWebhook, Webhook: &webhook.Config{}},
				{Name: "stdout", Type: SinkJSONL, JSONL: &jsonl.Config{}},
				{Type: SinkWebhook},
				{Name: "-bad name", Type: "kafka", JSONL: &jsonl.Config{Path: "x"}},
				{Name: "both", Type: SinkWebhook, Webhook: hook("http://x"), JSONL: &jsonl.Config{Path: "x"}},
				{Name: "untyped"},
			}},
			want: []string{
				`outputs.sinks[1] "tickets": webhook.url is required`,
				`outputs.sinks[2] "stdout": jsonl.path is required (a file, or "-" for standard output)`,
				`outputs.sinks[2] "stdout": duplicate name, also sinks[0]`,
				`outputs.sinks[3] "": name is required`,
				`outputs.sinks[3] "": webhook is required for type webhook`,
				`outputs.sinks[4] "-bad name": name may hold only letters, digits, '_', '-' and '.', and must start with a letter or digit`,
				`outputs.sinks[4] "-bad name": jsonl is set but type is "kafka"`,
				`outputs.sinks[4] "-bad name": unknown type "kafka" (want webhook, jsonl or rt)`,
				`outputs.sinks[5] "both": jsonl is set but type is "webhook"`,
				`outputs.sinks[6] "untyped": type is required (webhook, jsonl or rt)`,
			},
		},
		{
			name: "routes",
			cfg: Config{
				Sinks: []SinkConfig{{Name: "tickets", Type: SinkWebhook, Webhook: hook("https://x")}},
				Routes: []Route{
					{Match: []string{`priority=~"1|2"`}, Sinks: []string{"tickets"}},
					{Match: []string{`priority=~"(1"`, `rule`}, Sinks: []string{"tickets", "pager"}},
					{Match: []string{`rule="x"`}},
				},
			},
			want: []string{
				"outputs.routes[1]: match[0]: invalid matcher \"priority=~\\\"(1\\\"\": error parsing regexp: missing closing ): `^(?:(1)$`",
				`outputs.routes[1]: match[1]: invalid matcher "rule": bad matcher format: rule`,
				`outputs.routes[1]: sinks[1]: unknown sink "pager"`,
				`outputs.routes[2]: sinks is required`,
			},
		},
		{
			name: "retry",
			cfg: Config{Retry: RetryConfig{
				InitialBackoff: rules.Duration(time.Minute),
				MaxBackoff:     rules.Duration(time.Second),
				MaxAttempts:    -1,
			}},
			want: []string{
				`outputs.retry: max_attempts must be >= 0 (0 takes the default 10)`,
				`outputs.retry: max_backoff (1s) must be >= initial_backoff (1m0s)`,
			},
		},
		{
			name: "initial backoff above the default max",
			cfg:  Config{Retry: RetryConfig{InitialBackoff: rules.Duration(time.Minute)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if err := tt.cfg.Validate("outputs"); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(Config{Routes: []Route{{Sinks: []string{"nope"}}}}, prometheus.NewRegistry(), zerolog.Nop())
	if err == nil || err.Error() != `outputs.routes[0]: sinks[0]: unknown sink "nope"` {
		t.Errorf("New = %v", err)
	}
}

func TestNewWithSinksRejects(t *testing.T) {
	_, err := NewWithSinks([]Sink{&fakeSink{name: "a"}, &fakeSink{name: "a"}, &fakeSink{}},
		[]Route{{Sinks: []string{"b"}}}, RetryConfig{}, nil, zerolog.Nop())
	want := []string{
		`outputs: sinks[1] "a": duplicate name, also sinks[0]`,
		`outputs: sinks[2] has no name`,
		`outputs.routes[0]: sinks[0]: unknown sink "b"`,
	}
	if err == nil || !reflect.DeepEqual(strings.Split(err.Error(), "\n"), want) {
		t.Errorf("NewWithSinks = %v, want\n%s", err, strings.Join(want, "\n"))
	}
}

// The daemon's path end to end with real backends: a webhook receiver and a
// jsonl file.
func TestNewDeliversToBackends(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	var keys []string
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		bodies = append(bodies, body)
		keys = append(keys, r.Header.Get("Idempotency-Key"))
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "changes.jsonl")
	cfg, err := decode(t, `
outputs:
  sinks:
    - name: tickets
      type: webhook
      webhook: {url: "`+srv.URL+`"}
    - name: file
      type: jsonl
      jsonl: {path: "`+path+`"}
  routes:
    - match: ['priority="1"']
      sinks: [tickets]
      continue: true
    - sinks: [file]
  retry: {initial_backoff: 1ms, max_backoff: 2ms}
`)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, prometheus.NewRegistry(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()

	p1 := change("inc-1", correlator.ChangeOpened)
	p1.Incident.Priority = 1
	p1resolved := p1
	p1resolved.Type, p1resolved.Incident.Revision = correlator.ChangeResolved, 2
	p3 := change("inc-2", correlator.ChangeOpened)
	p3.Incident.Priority = 3
	for _, ch := range []correlator.Change{p1, p3, p1resolved} {
		d.Publish(ch)
	}
	flush, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := d.Close(flush); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if want := []string{"inc-1-1", "inc-1-2"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("webhook idempotency keys %v, want %v", keys, want)
	}
	f, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	sc := bufio.NewScanner(bytes.NewReader(f))
	for i := 0; sc.Scan(); i++ {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		types = append(types, doc["incident"].(map[string]any)["id"].(string)+"/"+doc["type"].(string))
		// Both backends write the same document.
		if i == 0 && !bytes.Equal(sc.Bytes(), bodies[0]) {
			t.Errorf("jsonl line\n%s\ndiffers from webhook body\n%s", sc.Bytes(), bodies[0])
		}
	}
	if want := []string{"inc-1/opened", "inc-2/opened", "inc-1/resolved"}; !reflect.DeepEqual(types, want) {
		t.Errorf("jsonl lines %v, want %v", types, want)
	}
}
