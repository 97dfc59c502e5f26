package rt

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/corrd/corrd/correlator"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"valid token", Config{URL: "https://rt.example/rt", Auth: Auth{Token: "t"}}, nil},
		{"valid basic", Config{URL: "http://127.0.0.1:18080", Auth: Auth{Basic: &Basic{Username: "u", PasswordFile: "/x"}},
			Priorities: map[int]int{1: 99, 4: 0}}, nil},
		{"empty", Config{}, []string{
			"sinks[0].rt.url is required",
			"sinks[0].rt.auth: token, token_file or basic is required",
		}},
		{"bad fields", Config{
			URL:         "ftp://rt.example",
			CustomField: "Incident{Key}",
			Queue:       "a\nb",
			Auth:        Auth{Token: "t", TokenFile: "f"},
			Priorities:  map[int]int{0: 10, 2: -1},
		}, []string{
			`sinks[0].rt.url "ftp://rt.example": scheme must be http or https`,
			"sinks[0].rt.queue: contains a control character",
			`sinks[0].rt.custom_field "Incident{Key}": must not contain braces, quotes, backslashes or control characters`,
			"sinks[0].rt.auth.token and token_file are mutually exclusive",
			"sinks[0].rt.priorities: key 0: corrd priorities are 1 to 4",
			"sinks[0].rt.priorities[2]: RT priority -1 must be >= 0",
		}},
		{"credentials in url", Config{URL: "https://u:p@rt.example", Auth: Auth{Token: "t"}}, []string{
			`sinks[0].rt.url "https://u:xxxxx@rt.example": put credentials in auth, not in the URL`,
		}},
		{"token and basic", Config{URL: "https://rt.example", Auth: Auth{Token: "t", Basic: &Basic{Password: "p", PasswordFile: "f"}}}, []string{
			"sinks[0].rt.auth.token and basic are mutually exclusive",
			"sinks[0].rt.auth.basic.username is required",
			"sinks[0].rt.auth.basic: password and password_file are mutually exclusive",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate("sinks[0].rt")
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Validate =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestAuthHeader(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(tokenFile, []byte("  1-14-filetoken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	tests := []struct {
		name string
		auth Auth
		want string
	}{
		{"token", Auth{Token: "1-14-abc"}, "token 1-14-abc"},
		{"token_file", Auth{TokenFile: tokenFile}, "token 1-14-filetoken"},
		{"basic", Auth{Basic: &Basic{Username: "root", Password: "pw"}}, basic("root", "pw")},
		{"password_file", Auth{Basic: &Basic{Username: "root", PasswordFile: pwFile}}, basic("root", "s3cret")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRT(t)
			f.auth = tt.want
			s := newSink(t, f, func(c *Config) { c.Auth = tt.auth })
			deliver(t, s, newLifecycle("inc-0000000000000009").next(correlator.ChangeOpened, nil))
		})
	}
	if _, err := New("rt", Config{URL: "http://x", Auth: Auth{TokenFile: filepath.Join(dir, "missing")}}); err == nil {
		t.Error("New with a missing token_file succeeded; want an error")
	}
}
