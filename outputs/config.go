package outputs

import (
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/corrd/corrd/outputs/jsonl"
	"github.com/corrd/corrd/outputs/rt"
	"github.com/corrd/corrd/outputs/webhook"
	"github.com/corrd/corrd/rules"
)

// Config is the `outputs:` section of the daemon's config:
//
//	outputs:
//	  sinks:
//	    - name: tickets            # [A-Za-z0-9][A-Za-z0-9_.-]*, unique
//	      type: webhook            # webhook | jsonl | rt
//	      webhook:
//	        url: https://itsm.example/api/incidents   # required, http or https
//	        timeout: 10s           # per request, default 10s
//	        headers: {X-Source: corrd}
//	        bearer_token: ...      # or basic_auth, not both
//	        basic_auth: {username: corrd, password: ...}
//	        template: '{"title": {{json .Incident.Title}}}'  # default: the JSON document
//	        content_type: application/json                  # default
//	    - name: stdout
//	      type: jsonl
//	      jsonl: {path: "-"}       # "-" = standard output, else a file (append, 0640)
//	    - name: rt
//	      type: rt                 # Request Tracker 5, see docs/rt.md
//	      rt:
//	        url: https://rt.example   # required
//	        queue: General
//	        auth: {token_file: /etc/corrd/rt.token}   # or token, or basic
//	  routes:                      # none: every sink gets every change
//	    - match: ['priority=~"1|2"', 'rule="fleet"']
//	      sinks: [tickets]
//	      continue: true           # also try the later routes
//	    - sinks: [stdout]          # no matchers: matches everything
//	  retry:
//	    initial_backoff: 500ms
//	    max_backoff: 30s
//	    max_attempts: 10
//	    max_retry_duration: 10m
type Config struct {
	// Sinks are the destinations, each with a unique name.
	Sinks []SinkConfig `yaml:"sinks"`
	// Routes choose the sinks of each change; see Route. Without routes
	// every sink receives every change.
	Routes []Route `yaml:"routes,omitempty"`
	// Retry governs redelivery of retryable failures, for every sink.
	Retry RetryConfig `yaml:"retry,omitempty"`
}

// SinkConfig is one sink: a name, a type and the block of that type.
type SinkConfig struct {
	// Name identifies the sink in routes, logs and metric labels: letters,
	// digits, '_', '-' and '.', starting with a letter or digit.
	Name    string          `yaml:"name"`
	Type    SinkType        `yaml:"type"`
	Webhook *webhook.Config `yaml:"webhook,omitempty"`
	JSONL   *jsonl.Config   `yaml:"jsonl,omitempty"`
	RT      *rt.Config      `yaml:"rt,omitempty"`
}

// SinkType is the backend of a sink.
type SinkType string

// The sink types.
const (
	SinkWebhook SinkType = "webhook"
	SinkJSONL   SinkType = "jsonl"
	SinkRT      SinkType = "rt"
)

// UnmarshalYAML accepts only the known sink types.
func (t *SinkType) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	switch v := SinkType(s); v {
	case SinkWebhook, SinkJSONL, SinkRT:
		*t = v
		return nil
	}
	return fmt.Errorf("line %d: unknown sink type %q (want webhook, jsonl or rt)", n.Line, s)
}

// Route sends the changes its matchers select to its sinks. Routes are tried
// in order; the first that matches gets the change and ends the search
// unless it has Continue set. A sink gets each change at most once.
type Route struct {
	// Match lists Alertmanager-style matchers (`name="v"`, `name=~"re"`,
	// `name!="v"`, `name!~"re"`), all of which must hold; none matches
	// every change. They see the incident's group and common labels and
	// the reserved names rule, priority ("1".."4"), priority_name, status,
	// category, assignment_group, change (the change type) and severity,
	// which win over labels of the same name.
	Match []string `yaml:"match,omitempty"`
	// Sinks named here receive the matched changes.
	Sinks []string `yaml:"sinks"`
	// Continue tries the later routes too after this one matched.
	Continue bool `yaml:"continue,omitempty"`
}

// RetryConfig governs redelivery. Zero values take the defaults.
type RetryConfig struct {
	// InitialBackoff is the wait after the first failure; it doubles with
	// every further failure up to MaxBackoff. Each wait is drawn at random
	// from [w/2, w], and is at least what a Retry-After asked for.
	// Defaults 500ms and 30s.
	InitialBackoff rules.Duration `yaml:"initial_backoff,omitempty"`
	MaxBackoff     rules.Duration `yaml:"max_backoff,omitempty"`
	// MaxAttempts bounds the attempts per change, the first included.
	// Default 10.
	MaxAttempts int `yaml:"max_attempts,omitempty"`
	// MaxRetryDuration: a change is dropped when its next attempt would
	// start later than this after its first. Default 10m.
	MaxRetryDuration rules.Duration `yaml:"max_retry_duration,omitempty"`
}

// The retry defaults.
const (
	DefaultInitialBackoff   = 500 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
	DefaultMaxAttempts      = 10
	DefaultMaxRetryDuration = 10 * time.Minute
)

// retryPolicy is a RetryConfig with the defaults applied.
type retryPolicy struct {
	initial, max time.Duration
	attempts     int
	maxDuration  time.Duration
}

func (c RetryConfig) policy() retryPolicy {
	p := retryPolicy{
		initial:     time.Duration(c.InitialBackoff),
		max:         time.Duration(c.MaxBackoff),
		attempts:    c.MaxAttempts,
		maxDuration: time.Duration(c.MaxRetryDuration),
	}
	if p.initial <= 0 {
		p.initial = DefaultInitialBackoff
	}
	if p.max <= 0 {
		p.max = max(DefaultMaxBackoff, p.initial)
	}
	if p.attempts <= 0 {
		p.attempts = DefaultMaxAttempts
	}
	if p.maxDuration <= 0 {
		p.maxDuration = DefaultMaxRetryDuration
	}
	return p
}

// Validate reports every problem of the retry settings, each prefixed with
// path.
func (c RetryConfig) Validate(path string) error {
	var errs []error
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("%s: max_attempts must be >= 0 (0 takes the default %d)", path, DefaultMaxAttempts))
	}
	p := c.policy()
	if p.max < p.initial {
		errs = append(errs, fmt.Errorf("%s: max_backoff (%s) must be >= initial_backoff (%s)", path, p.max, p.initial))
	}
	return errors.Join(errs...)
}

// Validate reports every problem of the config, each prefixed with its path
// under path, e.g. `outputs.sinks[1] "tickets": webhook.url is required`.
func (c *Config) Validate(path string) error {
	var errs []error
	index := make(map[string]int, len(c.Sinks))
	for i := range c.Sinks {
		s := &c.Sinks[i]
		sp := fmt.Sprintf("%s.sinks[%d] %q", path, i, s.Name)
		errs = append(errs, s.validate(sp))
		if s.Name == "" {
			continue
		}
		if j, dup := index[s.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: duplicate name, also sinks[%d]", sp, j))
			continue
		}
		index[s.Name] = i
	}
	_, rerrs := compileRoutes(path, c.Routes, index)
	errs = append(errs, rerrs...)
	errs = append(errs, c.Retry.Validate(path+".retry"))
	return errors.Join(errs...)
}

func (s *SinkConfig) validate(path string) error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, fmt.Errorf("%s: name is required", path))
	} else if !validSinkName(s.Name) {
		errs = append(errs, fmt.Errorf("%s: name may hold only letters, digits, '_', '-' and '.', and must start with a letter or digit", path))
	}
	blocks := []struct {
		typ SinkType
		set bool
	}{{SinkWebhook, s.Webhook != nil}, {SinkJSONL, s.JSONL != nil}, {SinkRT, s.RT != nil}}
	for _, b := range blocks {
		if b.set && b.typ != s.Type {
			errs = append(errs, fmt.Errorf("%s: %s is set but type is %q", path, b.typ, s.Type))
		}
	}
	switch s.Type {
	case "":
		errs = append(errs, fmt.Errorf("%s: type is required (webhook, jsonl or rt)", path))
	case SinkWebhook:
		if s.Webhook == nil {
			errs = append(errs, fmt.Errorf("%s: webhook is required for type webhook", path))
		} else {
			errs = append(errs, s.Webhook.Validate(path+": webhook"))
		}
	case SinkJSONL:
		if s.JSONL == nil {
			errs = append(errs, fmt.Errorf("%s: jsonl is required for type jsonl", path))
		} else {
			errs = append(errs, s.JSONL.Validate(path+": jsonl"))
		}
	case SinkRT:
		if s.RT == nil {
			errs = append(errs, fmt.Errorf("%s: rt is required for type rt", path))
		} else {
			errs = append(errs, s.RT.Validate(path+": rt"))
		}
	default:
		errs = append(errs, fmt.Errorf("%s: unknown type %q (want webhook, jsonl or rt)", path, s.Type))
	}
	return errors.Join(errs...)
}

func validSinkName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '_' || c == '-' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// build makes the sink s describes; s must be valid. An rt sink keeps its
// ticket ids in st when it is not nil.
func (s *SinkConfig) build(st Store) (Sink, error) {
	switch s.Type {
	case SinkWebhook:
		return webhook.New(s.Name, *s.Webhook)
	case SinkJSONL:
		return jsonl.New(s.Name, *s.JSONL)
	case SinkRT:
		var opts []rt.Option
		if st != nil {
			opts = append(opts, rt.WithStore(st))
		}
		return rt.New(s.Name, *s.RT, opts...)
	}
	return nil, fmt.Errorf("unknown sink type %q", s.Type)
}

// The rt backend satisfies Sink structurally.
var _ Sink = (*rt.Sink)(nil)
