package rules

import (
	"errors"
	"fmt"
)

// Matrix derives an incident's priority (1 critical .. 4 low) from its
// impact and urgency. The default is the service-desk matrix of the seed
// process:
//
//	impact \ urgency   low      normal   high     urgent
//	low                4 low    3 medium 2 high   1 critical
//	medium             3 medium 3 medium 1 crit.  1 critical
//	high               2 high   2 high   1 crit.  1 critical
//
// (the seed's "Low 40h, Medium 16h, Normal 8h, High 4h" outcomes map to
// priorities 4, 3, 2 and 1).
type Matrix struct {
	Impacts   []string `yaml:"impacts"`
	Urgencies []string `yaml:"urgencies"`
	// Priorities maps each impact to one priority per urgency, in the
	// order of Urgencies.
	Priorities map[string][]int `yaml:"priorities"`
	// Names of the priorities 1..4.
	Names          map[int]string `yaml:"names,omitempty"`
	DefaultImpact  string         `yaml:"default_impact"`
	DefaultUrgency string         `yaml:"default_urgency"`
}

// DefaultMatrix returns the seed matrix.
func DefaultMatrix() Matrix {
	return Matrix{
		Impacts:   []string{"low", "medium", "high"},
		Urgencies: []string{"low", "normal", "high", "urgent"},
		Priorities: map[string][]int{
			"low":    {4, 3, 2, 1},
			"medium": {3, 3, 1, 1},
			"high":   {2, 2, 1, 1},
		},
		Names:          map[int]string{1: "critical", 2: "high", 3: "medium", 4: "low"},
		DefaultImpact:  "low",
		DefaultUrgency: "normal",
	}
}

// Validate reports every problem of the matrix, each prefixed with path.
func (m *Matrix) Validate(path string) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(path+": "+format, a...)) }
	if len(m.Impacts) == 0 {
		add("impacts must not be empty")
	}
	if len(m.Urgencies) == 0 {
		add("urgencies must not be empty")
	}
	seen := map[string]bool{}
	for _, im := range m.Impacts {
		if seen[im] {
			add("impact %q listed twice", im)
		}
		seen[im] = true
		row, ok := m.Priorities[im]
		if !ok {
			add("priorities: no row for impact %q", im)
			continue
		}
		if len(row) != len(m.Urgencies) {
			add("priorities.%s: %d values for %d urgencies", im, len(row), len(m.Urgencies))
		}
		for i, p := range row {
			if p < 1 || p > 4 {
				add("priorities.%s[%d]: priority %d out of range 1..4", im, i, p)
			}
		}
	}
	for im := range m.Priorities {
		if !seen[im] {
			add("priorities: row %q is not a listed impact", im)
		}
	}
	if m.impactIndex(m.DefaultImpact) < 0 {
		add("default_impact %q is not a listed impact", m.DefaultImpact)
	}
	if m.urgencyIndex(m.DefaultUrgency) < 0 {
		add("default_urgency %q is not a listed urgency", m.DefaultUrgency)
	}
	for p := range m.Names {
		if p < 1 || p > 4 {
			add("names: priority %d out of range 1..4", p)
		}
	}
	return errors.Join(errs...)
}

func (m *Matrix) impactIndex(s string) int {
	for i, v := range m.Impacts {
		if v == s {
			return i
		}
	}
	return -1
}

func (m *Matrix) urgencyIndex(s string) int {
	for i, v := range m.Urgencies {
		if v == s {
			return i
		}
	}
	return -1
}

// Priority returns the priority of an impact and urgency; unknown values
// fall back to the defaults.
func (m *Matrix) Priority(impact, urgency string) int {
	if m.impactIndex(impact) < 0 {
		impact = m.DefaultImpact
	}
	u := m.urgencyIndex(urgency)
	if u < 0 {
		u = m.urgencyIndex(m.DefaultUrgency)
	}
	row := m.Priorities[impact]
	if u < 0 || u >= len(row) {
		return 4
	}
	return row[u]
}

// Name returns the name of a priority.
func (m *Matrix) Name(p int) string {
	if n, ok := m.Names[p]; ok {
		return n
	}
	switch p {
	case 1:
		return "critical"
	case 2:
		return "high"
	case 3:
		return "medium"
	}
	return "low"
}
