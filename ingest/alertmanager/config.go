package alertmanager

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Defaults applied by SetDefaults (and by New, on its own copy).
const (
	DefaultPath         = "/api/v1/ingest/alertmanager"
	DefaultMaxBodyBytes = 4 << 20
)

// Config configures one Alertmanager webhook receiver. Zero values take the
// defaults; see SetDefaults.
type Config struct {
	// Path is where cmd mounts the receiver. Default DefaultPath.
	Path string `yaml:"path,omitempty"`
	// MaxBodyBytes bounds a request body; larger requests get 413.
	// Default DefaultMaxBodyBytes (4 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes,omitempty"`
	// Auth, when set, requires every request to authenticate.
	Auth *AuthConfig `yaml:"auth,omitempty"`
}

// AuthConfig is either a bearer token or HTTP basic credentials, as set in
// Alertmanager's webhook_configs[].http_config. A secret may be given
// inline or as a file whose content, less surrounding white space, is the
// secret. Files are read by New, so a reload picks up a changed file.
type AuthConfig struct {
	BearerToken     Secret `yaml:"bearer_token,omitempty"`
	BearerTokenFile string `yaml:"bearer_token_file,omitempty"`
	Username        string `yaml:"username,omitempty"`
	Password        Secret `yaml:"password,omitempty"`
	PasswordFile    string `yaml:"password_file,omitempty"`
}

// Secret is a string that never prints: it renders as "<secret>" in
// fmt, JSON and YAML output.
type Secret string

const secretMask = "<secret>"

// String implements fmt.Stringer.
func (s Secret) String() string { return secretMask }

// MarshalText implements encoding.TextMarshaler (used by encoding/json).
func (s Secret) MarshalText() ([]byte, error) { return []byte(secretMask), nil }

// MarshalYAML implements yaml.Marshaler (gopkg.in/yaml.v3).
func (s Secret) MarshalYAML() (any, error) { return secretMask, nil }

// SetDefaults fills the zero fields of c with their defaults. New applies
// the same defaults to its own copy, so calling it is only needed to show
// the effective configuration.
func (c *Config) SetDefaults() {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
}

// Validate reports every problem of c, each prefixed with its path in the
// configuration (path is c's own, e.g. "ingest.alertmanager"). It reads no
// files. Zero values are valid: they take the defaults.
func (c *Config) Validate(path string) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	if c.Path != "" && !strings.HasPrefix(c.Path, "/") {
		add(".path", "%q must start with /", c.Path)
	}
	if strings.ContainsAny(c.Path, " \t\r\n?#") {
		add(".path", "%q must not contain white space, ? or #", c.Path)
	}
	if c.MaxBodyBytes < 0 {
		add(".max_body_bytes", "must be >= 0 (0 takes the default %d), got %d", DefaultMaxBodyBytes, c.MaxBodyBytes)
	}
	if a := c.Auth; a != nil {
		bearer := a.BearerToken != "" || a.BearerTokenFile != ""
		basic := a.Username != "" || a.Password != "" || a.PasswordFile != ""
		if a.BearerToken != "" && a.BearerTokenFile != "" {
			add(".auth", "bearer_token and bearer_token_file are exclusive")
		}
		if a.Password != "" && a.PasswordFile != "" {
			add(".auth", "password and password_file are exclusive")
		}
		if bearer && basic {
			add(".auth", "%s and %s are exclusive", firstSet(
				"bearer_token", string(a.BearerToken), "bearer_token_file", a.BearerTokenFile),
				firstSet("username", a.Username, "password", string(a.Password), "password_file", a.PasswordFile))
		}
		if !bearer && !basic {
			add(".auth", "one of bearer_token, bearer_token_file or username is required")
		}
		if basic && a.Username == "" {
			add(".auth.username", "required with password or password_file")
		}
		if basic && a.Username != "" && a.Password == "" && a.PasswordFile == "" {
			add(".auth", "password or password_file is required with username")
		}
		if strings.Contains(a.Username, ":") {
			add(".auth.username", "must not contain ':'")
		}
	}
	return errors.Join(errs...)
}

// firstSet returns the first name of the (name, value) pairs whose value is
// not empty.
func firstSet(pairs ...string) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			return pairs[i]
		}
	}
	return pairs[0]
}

// credentials are the resolved secrets of an AuthConfig.
type credentials struct {
	bearer             string
	username, password string
}

// resolve reads the secret files of a.
func (a *AuthConfig) resolve() (credentials, error) {
	cr := credentials{bearer: string(a.BearerToken), username: a.Username, password: string(a.Password)}
	var err error
	if a.BearerTokenFile != "" {
		if cr.bearer, err = readSecret(a.BearerTokenFile); err != nil {
			return cr, fmt.Errorf("auth.bearer_token_file: %w", err)
		}
	}
	if a.PasswordFile != "" {
		if cr.password, err = readSecret(a.PasswordFile); err != nil {
			return cr, fmt.Errorf("auth.password_file: %w", err)
		}
	}
	return cr, nil
}

func readSecret(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", name)
	}
	return s, nil
}
