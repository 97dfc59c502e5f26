package ingest

import (
	"fmt"
	"strings"
)

// Severity is corrd's normalised severity, ordered from least to most severe.
type Severity uint8

// The severities. Sources map their own scales onto these (syslog: emerg,
// alert, crit -> critical; err -> major; warning -> warning; notice, info,
// debug -> info).
const (
	SeverityUnknown Severity = iota
	SeverityInfo
	SeverityWarning
	SeverityMinor
	SeverityMajor
	SeverityCritical
)

var severityNames = [...]string{"unknown", "info", "warning", "minor", "major", "critical"}

func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// ParseSeverity maps the common spellings of severities (Alertmanager
// `severity` label values, syslog keywords) to a Severity. ok is false for a
// value it does not know.
func ParseSeverity(s string) (sev Severity, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical", "crit", "emerg", "emergency", "alert", "fatal", "disaster", "page", "p1":
		return SeverityCritical, true
	case "major", "error", "err", "high", "p2":
		return SeverityMajor, true
	case "minor", "average", "medium", "p3":
		return SeverityMinor, true
	case "warning", "warn", "low", "p4":
		return SeverityWarning, true
	case "info", "informational", "information", "notice", "debug", "ok", "none", "p5":
		return SeverityInfo, true
	case "unknown", "":
		return SeverityUnknown, true
	}
	return SeverityUnknown, false
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it rejects unknown names.
func (s *Severity) UnmarshalText(b []byte) error {
	v, ok := ParseSeverity(string(b))
	if !ok {
		return fmt.Errorf("unknown severity %q (want one of %s)", b, strings.Join(severityNames[:], ", "))
	}
	*s = v
	return nil
}

// Status is whether a signal is firing or resolved.
type Status uint8

// The statuses.
const (
	StatusFiring Status = iota
	StatusResolved
)

func (s Status) String() string {
	if s == StatusResolved {
		return "resolved"
	}
	return "firing"
}

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Status) UnmarshalText(b []byte) error {
	switch string(b) {
	case "firing":
		*s = StatusFiring
	case "resolved":
		*s = StatusResolved
	default:
		return fmt.Errorf("unknown status %q (want firing or resolved)", b)
	}
	return nil
}
