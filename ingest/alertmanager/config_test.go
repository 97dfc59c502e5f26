package alertmanager

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/corrd/corrd/ingest"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // each a line of the joined error; none for valid
	}{
		{"zero", Config{}, nil},
		{"full bearer", Config{Path: "/hooks/am", MaxBodyBytes: 1 << 20, Auth: &AuthConfig{BearerToken: "t"}}, nil},
		{"bearer file", Config{Auth: &AuthConfig{BearerTokenFile: "/run/secrets/am"}}, nil},
		{"basic", Config{Auth: &AuthConfig{Username: "am", Password: "p"}}, nil},
		{"basic file", Config{Auth: &AuthConfig{Username: "am", PasswordFile: "/run/secrets/am"}}, nil},
		{"relative path", Config{Path: "api/am"}, []string{`ingest.alertmanager.path: "api/am" must start with /`}},
		{"path with query", Config{Path: "/am?x=1"}, []string{`ingest.alertmanager.path: "/am?x=1" must not contain white space, ? or #`}},
		{"negative body", Config{MaxBodyBytes: -1}, []string{"ingest.alertmanager.max_body_bytes: must be >= 0 (0 takes the default 4194304), got -1"}},
		{"bearer and username", Config{Auth: &AuthConfig{BearerToken: "t", Username: "am", Password: "p"}},
			[]string{"ingest.alertmanager.auth: bearer_token and username are exclusive"}},
		{"bearer file and password file", Config{Auth: &AuthConfig{BearerTokenFile: "f", Username: "am", PasswordFile: "g"}},
			[]string{"ingest.alertmanager.auth: bearer_token_file and username are exclusive"}},
		{"both bearer forms", Config{Auth: &AuthConfig{BearerToken: "t", BearerTokenFile: "f"}},
			[]string{"ingest.alertmanager.auth: bearer_token and bearer_token_file are exclusive"}},
		{"both password forms", Config{Auth: &AuthConfig{Username: "am", Password: "p", PasswordFile: "f"}},
			[]string{"ingest.alertmanager.auth: password and password_file are exclusive"}},
		{"empty auth", Config{Auth: &AuthConfig{}},
			[]string{"ingest.alertmanager.auth: one of bearer_token, bearer_token_file or username is required"}},
		{"password without username", Config{Auth: &AuthConfig{Password: "p"}},
			[]string{"ingest.alertmanager.auth.username: required with password or password_file"}},
		{"username without password", Config{Auth: &AuthConfig{Username: "am"}},
			[]string{"ingest.alertmanager.auth: password or password_file is required with username"}},
		{"colon in username", Config{Auth: &AuthConfig{Username: "a:m", Password: "p"}},
			[]string{"ingest.alertmanager.auth.username: must not contain ':'"}},
		{"every problem at once", Config{Path: "x", MaxBodyBytes: -5, Auth: &AuthConfig{BearerToken: "t", Password: "p"}}, []string{
			`ingest.alertmanager.path: "x" must start with /`,
			"ingest.alertmanager.max_body_bytes: must be >= 0 (0 takes the default 4194304), got -5",
			"ingest.alertmanager.auth: bearer_token and password are exclusive",
			"ingest.alertmanager.auth.username: required with password or password_file",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate("ingest.alertmanager")
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("Validate() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestConfigSetDefaults(t *testing.T) {
	var c Config
	c.SetDefaults()
	if c.Path != DefaultPath || c.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Errorf("SetDefaults() = %+v, want path %s, max_body_bytes %d", c, DefaultPath, DefaultMaxBodyBytes)
	}
	c = Config{Path: "/x", MaxBodyBytes: 10}
	c.SetDefaults()
	if c.Path != "/x" || c.MaxBodyBytes != 10 {
		t.Errorf("SetDefaults() = %+v, want path /x, max_body_bytes 10 kept", c)
	}
}

func TestSecretDoesNotPrint(t *testing.T) {
	a := AuthConfig{BearerToken: "s3cr3t", Password: "s3cr3t"}
	js, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := a.BearerToken.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprintf("%v %+v %s", a, a, a.Password), string(js), fmt.Sprint(y)} {
		if strings.Contains(out, "s3cr3t") {
			t.Errorf("%s shows the secret", out)
		}
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := ingest.NewMetrics(nil)
	tests := []struct {
		name string
		src  string
		cfg  Config
		sub  ingest.Submitter
		want string
	}{
		{"no name", "", Config{}, &fakeSubmitter{}, "empty source name"},
		{"no submitter", "am", Config{}, nil, "nil submitter"},
		{"invalid config", "am", Config{Path: "x"}, &fakeSubmitter{}, `alertmanager am.path: "x" must start with /`},
		{"missing token file", "am", Config{Auth: &AuthConfig{BearerTokenFile: filepath.Join(dir, "nope")}}, &fakeSubmitter{},
			"alertmanager am: auth.bearer_token_file: open "},
		{"empty password file", "am", Config{Auth: &AuthConfig{Username: "u", PasswordFile: empty}}, &fakeSubmitter{},
			"alertmanager am: auth.password_file: " + empty + " is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.src, tt.cfg, tt.sub, m, nil, zerolog.Nop())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// Receivers of several names, and an old and a new one of the same name
// (reload), share one registry.
func TestNewSharesRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := ingest.NewMetrics(reg)
	var rs []*Receiver
	for _, name := range []string{"am-a", "am-b", "am-a"} {
		r, err := New(name, Config{}, &fakeSubmitter{}, m, reg, zerolog.Nop())
		if err != nil {
			t.Fatalf("New(%s): %v", name, err)
		}
		rs = append(rs, r)
	}
	h := &harness{r: rs[0], sub: &fakeSubmitter{}, m: m, reg: reg}
	rs[0].sub, rs[2].sub = h.sub, h.sub
	for _, r := range []*Receiver{rs[0], rs[2]} {
		h.r = r
		if w := h.post(readTestdata(t, "firing.json"), nil); w.Code != http.StatusOK {
			t.Fatalf("code = %d (%s), want 200", w.Code, w.Body)
		}
	}
	if got := testutil.ToFloat64(m.Received.WithLabelValues("am-a", "alertmanager")); got != 6 {
		t.Errorf("received{source=am-a} = %v, want 6", got)
	}
	if got := testutil.ToFloat64(m.Received.WithLabelValues("am-b", "alertmanager")); got != 0 {
		t.Errorf("received{source=am-b} = %v, want 0", got)
	}
	if got := testutil.CollectAndCount(reg, "corrd_ingest_alertmanager_requests_total"); got != 2*len(answerCodes) {
		t.Errorf("%d request series, want %d", got, 2*len(answerCodes))
	}
}

func TestReceiverAuth(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	basicHeader := func(u, p string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))
	}
	bearer := &AuthConfig{BearerToken: "tok-123"}
	basic := &AuthConfig{Username: "alertmanager", Password: "pa55"}
	tests := []struct {
		name          string
		auth          *AuthConfig
		authorization string
		code          int
		challenge     string
	}{
		{"no auth configured", nil, "", 200, ""},
		{"bearer ok", bearer, "Bearer tok-123", 200, ""},
		{"bearer scheme in lower case", bearer, "bearer tok-123", 200, ""},
		{"bearer from file", &AuthConfig{BearerTokenFile: tokenFile}, "Bearer file-token", 200, ""},
		{"bearer missing", bearer, "", 401, `Bearer realm="corrd"`},
		{"bearer wrong", bearer, "Bearer tok-124", 401, `Bearer realm="corrd"`},
		{"bearer prefix of token", bearer, "Bearer tok-12", 401, `Bearer realm="corrd"`},
		{"bearer sent as basic", bearer, basicHeader("x", "tok-123"), 401, `Bearer realm="corrd"`},
		{"basic ok", basic, basicHeader("alertmanager", "pa55"), 200, ""},
		{"basic missing", basic, "", 401, `Basic realm="corrd", charset="UTF-8"`},
		{"basic wrong password", basic, basicHeader("alertmanager", "pa56"), 401, `Basic realm="corrd", charset="UTF-8"`},
		{"basic wrong user", basic, basicHeader("am", "pa55"), 401, `Basic realm="corrd", charset="UTF-8"`},
		{"basic sent as bearer", basic, "Bearer pa55", 401, `Basic realm="corrd", charset="UTF-8"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{Auth: tt.auth})
			w := h.post(readTestdata(t, "firing.json"), func(r *http.Request) {
				if tt.authorization != "" {
					r.Header.Set("Authorization", tt.authorization)
				}
			})
			if w.Code != tt.code {
				t.Errorf("code = %d (%s), want %d", w.Code, w.Body, tt.code)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			wantRejected, wantCalls := 0.0, 1
			if tt.code == 401 {
				wantRejected, wantCalls = 1, 0
				checkErrorBody(t, w, "credentials")
			}
			if got := h.rejected(reasonAuth); got != wantRejected {
				t.Errorf("rejected{reason=unauthorized} = %v, want %v", got, wantRejected)
			}
			if h.sub.calls != wantCalls {
				t.Errorf("%d submits, want %d", h.sub.calls, wantCalls)
			}
		})
	}
}
