package rt

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/corrd/corrd/outputs/webhook"
	"github.com/corrd/corrd/rules"
)

// Config is the `rt:` block of a sink:
//
//	rt:
//	  url: http://127.0.0.1:18080   # required: RT's WebBaseURL, http or https
//	  queue: General                # default General
//	  auth:                         # required: token or basic, not both
//	    token: 1-14-6f0...          # or token_file
//	    basic: {username: corrd, password: ...}   # or password_file
//	  custom_field: IncidentKey     # ticket custom field holding the key; default IncidentKey
//	  create_custom_field: false    # create it (global, freeform) if missing
//	  timeout: 10s                  # per request, default 10s
//	  priorities: {1: 90, 2: 70, 3: 50, 4: 30}   # corrd priority -> RT Priority
//	  problems: false               # also open tickets for problems
type Config struct {
	// URL is RT's base URL (its WebBaseURL); the REST2 API is under
	// <url>/REST/2.0. A URL that already ends in /REST/2.0 is accepted.
	URL string `yaml:"url"`
	// Queue receives the tickets the sink creates. Default General.
	Queue string `yaml:"queue,omitempty"`
	// Auth authenticates every request.
	Auth Auth `yaml:"auth"`
	// CustomField names the ticket custom field that holds the incident
	// (or problem) id, by which tickets are found again. Default
	// IncidentKey.
	CustomField string `yaml:"custom_field,omitempty"`
	// CreateCustomField creates CustomField (a global single-value
	// freeform ticket field) before the first delivery when RT does not
	// have it. It needs the SuperUser or AdminCustomField right.
	CreateCustomField bool `yaml:"create_custom_field,omitempty"`
	// Timeout bounds one request, connection included. Default 10s.
	Timeout rules.Duration `yaml:"timeout,omitempty"`
	// Priorities maps corrd priorities 1 (critical) to 4 (low) to RT
	// Priority values. Missing entries take the defaults 1: 90, 2: 70,
	// 3: 50, 4: 30.
	Priorities map[int]int `yaml:"priorities,omitempty"`
	// Problems opens a ticket per problem (keyed by the problem id) and
	// comments on it with every problem change. Off by default: problem
	// changes are skipped.
	Problems bool `yaml:"problems,omitempty"`
}

// Auth is how the sink authenticates: an RT auth token (the
// RT::Authen::Token "token" scheme) or HTTP basic authentication.
type Auth struct {
	// Token is sent as "Authorization: token <token>".
	Token string `yaml:"token,omitempty"`
	// TokenFile holds the token (surrounding white space is trimmed).
	TokenFile string `yaml:"token_file,omitempty"`
	// Basic is HTTP basic authentication.
	Basic *Basic `yaml:"basic,omitempty"`
}

// Basic is HTTP basic authentication with an RT user's password.
type Basic struct {
	Username string `yaml:"username"`
	Password string `yaml:"password,omitempty"`
	// PasswordFile holds the password (a trailing newline is trimmed).
	PasswordFile string `yaml:"password_file,omitempty"`
}

// The defaults.
const (
	DefaultQueue       = "General"
	DefaultCustomField = "IncidentKey"
)

// DefaultPriorities maps corrd priorities to RT Priority values.
var DefaultPriorities = map[int]int{1: 90, 2: 70, 3: 50, 4: 30}

// Validate reports every problem of c, each prefixed with path and the
// field's name: `<path>.url is required`. It does not read the secret files.
func (c *Config) Validate(path string) error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s", path, fmt.Sprintf(format, args...)))
	}
	if u, problem := webhook.CheckURL(c.URL); problem != "" {
		add("%s", problem)
	} else if u.User != nil {
		add("url %q: put credentials in auth, not in the URL", u.Redacted())
	} else if u.RawQuery != "" || u.Fragment != "" {
		add("url %q: must have no query or fragment", u.Redacted())
	}
	if strings.ContainsAny(c.Queue, "\r\n\x00") {
		add("queue: contains a control character")
	}
	if strings.ContainsAny(c.CustomField, "{}'\"\\\r\n\x00") {
		add("custom_field %q: must not contain braces, quotes, backslashes or control characters", c.CustomField)
	}
	errs = append(errs, c.Auth.validate(path+".auth"))
	for _, p := range slices.Sorted(maps.Keys(c.Priorities)) {
		if p < 1 || p > 4 {
			add("priorities: key %d: corrd priorities are 1 to 4", p)
		}
		if v := c.Priorities[p]; v < 0 {
			add("priorities[%d]: RT priority %d must be >= 0", p, v)
		}
	}
	return errors.Join(errs...)
}

func (a *Auth) validate(path string) error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s", path, fmt.Sprintf(format, args...)))
	}
	token := a.Token != "" || a.TokenFile != ""
	switch {
	case a.Token != "" && a.TokenFile != "":
		add("token and token_file are mutually exclusive")
	case token && a.Basic != nil:
		add("token and basic are mutually exclusive")
	case !token && a.Basic == nil:
		errs = append(errs, fmt.Errorf("%s: token, token_file or basic is required", path))
	}
	if b := a.Basic; b != nil {
		if b.Username == "" {
			add("basic.username is required")
		}
		if b.Password != "" && b.PasswordFile != "" {
			add("basic: password and password_file are mutually exclusive")
		}
	}
	return errors.Join(errs...)
}

// authorization returns the Authorization header value of a, reading its
// secret file if it names one.
func (a *Auth) authorization() (string, error) {
	switch {
	case a.Token != "":
		return "token " + a.Token, nil
	case a.TokenFile != "":
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return "", fmt.Errorf("auth.token_file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("auth.token_file %s is empty", a.TokenFile)
		}
		return "token " + tok, nil
	case a.Basic != nil:
		pw := a.Basic.Password
		if a.Basic.PasswordFile != "" {
			b, err := os.ReadFile(a.Basic.PasswordFile)
			if err != nil {
				return "", fmt.Errorf("auth.basic.password_file: %w", err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		cred := a.Basic.Username + ":" + pw
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred)), nil
	}
	return "", errors.New("auth: no credentials")
}
