package outputs

import (
	"fmt"
	"strconv"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/corrd/corrd/correlator"
)

// field is where a matcher finds its value: a reserved name or the labels.
type field uint8

const (
	fieldLabel field = iota
	fieldRule
	fieldPriority
	fieldPriorityName
	fieldStatus
	fieldCategory
	fieldAssignmentGroup
	fieldChange
	fieldSeverity
	fieldService
	fieldMajor
	fieldFlapping
)

// reserved maps the reserved label names to their fields.
var reserved = map[string]field{
	"rule":             fieldRule,
	"priority":         fieldPriority,
	"priority_name":    fieldPriorityName,
	"status":           fieldStatus,
	"category":         fieldCategory,
	"assignment_group": fieldAssignmentGroup,
	"change":           fieldChange,
	"severity":         fieldSeverity,
	"service":          fieldService,
	"major":            fieldMajor,
	"flapping":         fieldFlapping,
}

// value returns the value of the named label of ch's flat label view, ""
// when absent. It does not allocate.
func value(ch *correlator.Change, f field, name string) string {
	inc := &ch.Incident
	switch f {
	case fieldRule:
		return inc.Rule
	case fieldPriority:
		if inc.Priority <= 0 {
			return ""
		}
		return strconv.Itoa(inc.Priority)
	case fieldPriorityName:
		return inc.PriorityName
	case fieldStatus:
		return string(inc.Status)
	case fieldCategory:
		return inc.Category
	case fieldAssignmentGroup:
		return inc.AssignmentGroup
	case fieldChange:
		return string(ch.Type)
	case fieldService:
		return inc.Service
	case fieldMajor:
		return strconv.FormatBool(inc.Major)
	case fieldFlapping:
		return strconv.FormatBool(inc.Flapping)
	case fieldSeverity:
		return inc.Severity.String()
	}
	if v := inc.GroupLabels.Get(name); v != "" {
		return v
	}
	return inc.CommonLabels.Get(name)
}

type matcher struct {
	m     *labels.Matcher
	field field
}

type route struct {
	matchers []matcher
	sinks    []int // indexes into the dispatcher's sinks
	cont     bool
}

func (r *route) matches(ch *correlator.Change) bool {
	for i := range r.matchers {
		m := &r.matchers[i]
		if !m.m.Matches(value(ch, m.field, m.m.Name)) {
			return false
		}
	}
	return true
}

// router is the compiled, immutable form of the routes.
type router struct {
	routes []route
	all    []int // every sink, when there are no routes
}

// route appends to dst the indexes of the sinks that get ch, each once, and
// returns it. matched is false when routes are configured and none matched.
func (r *router) route(ch *correlator.Change, dst []int) (_ []int, matched bool) {
	if len(r.routes) == 0 {
		return append(dst, r.all...), true
	}
	for i := range r.routes {
		rt := &r.routes[i]
		if !rt.matches(ch) {
			continue
		}
		matched = true
	sinks:
		for _, s := range rt.sinks {
			for _, have := range dst {
				if have == s {
					continue sinks
				}
			}
			dst = append(dst, s)
		}
		if !rt.cont {
			break
		}
	}
	return dst, matched
}

// compileRoutes compiles routes against the sinks of index (name to
// position); the caller sets the router's all. It returns every problem,
// each with its path under path.
func compileRoutes(path string, routes []Route, index map[string]int) (*router, []error) {
	var errs []error
	r := &router{routes: make([]route, 0, len(routes))}
	for i, in := range routes {
		rp := fmt.Sprintf("%s.routes[%d]", path, i)
		var out route
		out.cont = in.Continue
		for j, s := range in.Match {
			m, err := labels.ParseMatcher(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: match[%d]: invalid matcher %q: %w", rp, j, s, err))
				continue
			}
			f, ok := reserved[m.Name]
			if !ok {
				f = fieldLabel
			}
			out.matchers = append(out.matchers, matcher{m: m, field: f})
		}
		if len(in.Sinks) == 0 {
			errs = append(errs, fmt.Errorf("%s: sinks is required", rp))
		}
		for j, name := range in.Sinks {
			idx, ok := index[name]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: sinks[%d]: unknown sink %q", rp, j, name))
				continue
			}
			out.sinks = append(out.sinks, idx)
		}
		r.routes = append(r.routes, out)
	}
	return r, errs
}
