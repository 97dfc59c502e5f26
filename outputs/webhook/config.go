package webhook

import (
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/corrd/corrd/rules"
)

// Config is the `webhook:` block of a sink.
type Config struct {
	// URL receives a POST per change; http or https.
	URL string `yaml:"url"`
	// Timeout bounds one request, connection included. Default 10s.
	Timeout rules.Duration `yaml:"timeout,omitempty"`
	// Headers are added to every request. They may replace User-Agent but
	// not Content-Type (see ContentType), Idempotency-Key, or Authorization
	// when BearerToken or BasicAuth is set.
	Headers map[string]string `yaml:"headers,omitempty"`
	// BearerToken sends "Authorization: Bearer <token>".
	BearerToken string `yaml:"bearer_token,omitempty"`
	// BasicAuth sends HTTP basic authentication.
	BasicAuth *BasicAuth `yaml:"basic_auth,omitempty"`
	// Template, when set, is a Go text/template over the correlator.Change
	// that produces the body in place of the default JSON document.
	Template string `yaml:"template,omitempty"`
	// ContentType of the body. Default application/json.
	ContentType string `yaml:"content_type,omitempty"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	Username string `yaml:"username"`
	Password string `yaml:"password,omitempty"`
}

// Validate reports every problem of c, each prefixed with path and the
// field's name: `<path>.url is required`.
func (c *Config) Validate(path string) error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s", path, fmt.Sprintf(format, args...)))
	}
	if _, problem := CheckURL(c.URL); problem != "" {
		add("%s", problem)
	}
	for _, k := range slices.Sorted(maps.Keys(c.Headers)) {
		v := c.Headers[k]
		switch {
		case !validHeaderName(k):
			add("headers: invalid header name %q", k)
		case strings.ContainsAny(v, "\r\n\x00"):
			add("headers[%s]: value contains a control character", k)
		}
		switch http.CanonicalHeaderKey(k) {
		case "Content-Type":
			add("headers[%s]: set content_type instead", k)
		case "Idempotency-Key":
			add("headers[%s]: reserved, set per change", k)
		case "Authorization":
			if c.BearerToken != "" || c.BasicAuth != nil {
				add("headers[%s]: conflicts with bearer_token or basic_auth", k)
			}
		}
	}
	if c.BearerToken != "" && c.BasicAuth != nil {
		add("bearer_token and basic_auth are mutually exclusive")
	}
	if c.BasicAuth != nil && c.BasicAuth.Username == "" {
		add("basic_auth.username is required")
	}
	if c.ContentType != "" {
		if _, _, err := mime.ParseMediaType(c.ContentType); err != nil {
			add("content_type %q is invalid: %v", c.ContentType, err)
		}
	}
	if c.Template != "" {
		if _, err := parseTemplate("body", c.Template); err != nil {
			add("template is invalid: %v", err)
		}
	}
	return errors.Join(errs...)
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// CheckURL parses an http(s) endpoint URL; problem, when not empty, says
// what is wrong with it, starting with "url" and never showing a password.
func CheckURL(raw string) (u *url.URL, problem string) {
	if raw == "" {
		return nil, "url is required"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the message without the URL, which may hold a secret
		}
		return nil, fmt.Sprintf("url is invalid: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Sprintf("url %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return nil, fmt.Sprintf("url %q has no host", u.Redacted())
	}
	return u, ""
}
