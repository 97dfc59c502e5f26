package outputs

import (
	"context"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/ingest"
)

// routeNames routes ch and returns the names of the chosen sinks.
func routeNames(d *Dispatcher, ch correlator.Change) ([]string, bool) {
	idx, matched := d.router.route(&ch, nil)
	var names []string
	for _, i := range idx {
		names = append(names, d.queues[i].sink.Name())
	}
	return names, matched
}

func TestRoute(t *testing.T) {
	sinks := func() []Sink {
		return []Sink{&fakeSink{name: "tickets"}, &fakeSink{name: "pager"}, &fakeSink{name: "archive"}}
	}
	opened := change("inc-1", correlator.ChangeOpened) // priority 2, rule fleet, site s042, team net
	resolved := change("inc-1", correlator.ChangeResolved)
	p4 := change("inc-2", correlator.ChangeOpened)
	p4.Incident.Priority, p4.Incident.PriorityName = 4, "low"
	labelRule := change("inc-3", correlator.ChangeOpened)
	labelRule.Incident.CommonLabels = ingest.Labels{{Name: "rule", Value: "from-label"}}
	critical := change("inc-4", correlator.ChangeOpened)
	critical.Incident.Severity = ingest.SeverityCritical
	critical.Incident.Status = correlator.StatusResolved
	major := change("inc-5", correlator.ChangeStatusUpdate)
	major.Incident.Major, major.Incident.Service, major.Incident.Flapping = true, "self-checkout", true

	tests := []struct {
		name        string
		routes      []Route
		change      correlator.Change
		want        []string
		wantMatched bool
	}{
		{name: "no routes: every sink", change: opened, want: []string{"tickets", "pager", "archive"}, wantMatched: true},
		{
			name: "first match wins",
			routes: []Route{
				{Match: []string{`priority=~"1|2"`, `rule="fleet"`}, Sinks: []string{"tickets"}},
				{Match: []string{`rule="fleet"`}, Sinks: []string{"archive"}},
			},
			change: opened, want: []string{"tickets"}, wantMatched: true,
		},
		{
			name: "non-matching route is skipped",
			routes: []Route{
				{Match: []string{`priority=~"1|2"`}, Sinks: []string{"pager"}},
				{Match: []string{`rule="fleet"`}, Sinks: []string{"archive"}},
			},
			change: p4, want: []string{"archive"}, wantMatched: true,
		},
		{
			name: "continue tries later routes, sink at most once",
			routes: []Route{
				{Match: []string{`site="s042"`}, Sinks: []string{"archive", "tickets"}, Continue: true},
				{Match: []string{`team="db"`}, Sinks: []string{"pager"}, Continue: true},
				{Match: []string{`priority="2"`}, Sinks: []string{"tickets", "pager"}},
				{Sinks: []string{"pager", "archive"}},
			},
			change: opened, want: []string{"archive", "tickets", "pager"}, wantMatched: true,
		},
		{
			name: "continue on a route that does not match changes nothing",
			routes: []Route{
				{Match: []string{`team="db"`}, Sinks: []string{"pager"}, Continue: true},
				{Match: []string{`team="net"`}, Sinks: []string{"tickets"}},
				{Sinks: []string{"archive"}},
			},
			change: opened, want: []string{"tickets"}, wantMatched: true,
		},
		{
			name:   "no match is unrouted",
			routes: []Route{{Match: []string{`priority="1"`}, Sinks: []string{"pager"}}},
			change: opened, wantMatched: false,
		},
		{
			name:   "change type",
			routes: []Route{{Match: []string{`change="resolved"`}, Sinks: []string{"archive"}}},
			change: resolved, want: []string{"archive"}, wantMatched: true,
		},
		{
			name: "reserved names",
			routes: []Route{{Match: []string{
				`rule="fleet"`, `priority="2"`, `priority_name="high"`, `status="open"`, `category="network"`,
				`assignment_group="noc"`, `change="opened"`, `severity="major"`,
			}, Sinks: []string{"tickets"}}},
			change: opened, want: []string{"tickets"}, wantMatched: true,
		},
		{
			name:   "major incidents to the incident manager",
			routes: []Route{{Match: []string{`major="true"`, `service="self-checkout"`, `flapping="true"`, `change="status_update"`}, Sinks: []string{"pager"}}},
			change: major, want: []string{"pager"}, wantMatched: true,
		},
		{
			name:   "not major",
			routes: []Route{{Match: []string{`major="true"`}, Sinks: []string{"pager"}}},
			change: opened, wantMatched: false,
		},
		{
			name:   "severity and status",
			routes: []Route{{Match: []string{`severity="critical"`, `status="resolved"`}, Sinks: []string{"pager"}}},
			change: critical, want: []string{"pager"}, wantMatched: true,
		},
		{
			name:   "group and common labels",
			routes: []Route{{Match: []string{`site="s042"`, `env="prod"`, `team=~"n.t"`}, Sinks: []string{"pager"}}},
			change: opened, want: []string{"pager"}, wantMatched: true,
		},
		{
			name:   "reserved name wins over a label",
			routes: []Route{{Match: []string{`rule="fleet"`}, Sinks: []string{"pager"}}},
			change: labelRule, want: []string{"pager"}, wantMatched: true,
		},
		{
			name:   "absent label is empty",
			routes: []Route{{Match: []string{`owner!="dba"`, `owner=""`}, Sinks: []string{"pager"}}},
			change: opened, want: []string{"pager"}, wantMatched: true,
		},
		{
			name:   "regex is anchored",
			routes: []Route{{Match: []string{`rule=~"flee"`}, Sinks: []string{"pager"}}},
			change: opened, wantMatched: false,
		},
		{
			name:   "negative regex",
			routes: []Route{{Match: []string{`priority!~"3|4"`}, Sinks: []string{"pager"}}},
			change: p4, wantMatched: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := testDispatcher(t, sinks(), tt.routes, RetryConfig{})
			got, matched := routeNames(d, tt.change)
			if !reflect.DeepEqual(got, tt.want) || matched != tt.wantMatched {
				t.Errorf("route = %v, %v; want %v, %v", got, matched, tt.want, tt.wantMatched)
			}
		})
	}
}

func TestPublishRoutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tickets, archive := &fakeSink{name: "tickets"}, &fakeSink{name: "archive"}
		routes := []Route{
			{Match: []string{`priority=~"1|2"`}, Sinks: []string{"tickets"}, Continue: true},
			{Match: []string{`change=~"resolved|closed"`}, Sinks: []string{"archive", "tickets"}},
		}
		d, _ := testDispatcher(t, []Sink{tickets, archive}, routes, RetryConfig{})
		ran := start(context.Background(), d)
		p4 := change("inc-2", correlator.ChangeOpened)
		p4.Incident.Priority = 4
		p4closed := change("inc-2", correlator.ChangeClosed)
		p4closed.Incident.Priority = 4
		for _, ch := range []correlator.Change{
			change("inc-1", correlator.ChangeOpened),
			p4,
			change("inc-1", correlator.ChangeResolved),
			p4closed,
		} {
			d.Publish(ch)
		}
		if err := closeWithin(t, d, time.Minute); err != nil {
			t.Fatal(err)
		}
		<-ran
		if got, want := tickets.deliveredIDs(), []string{"inc-1/opened", "inc-1/resolved", "inc-2/closed"}; !reflect.DeepEqual(got, want) {
			t.Errorf("tickets got %v, want %v", got, want)
		}
		if got, want := archive.deliveredIDs(), []string{"inc-1/resolved", "inc-2/closed"}; !reflect.DeepEqual(got, want) {
			t.Errorf("archive got %v, want %v", got, want)
		}
		if got := testutil.ToFloat64(d.m.unrouted); got != 1 {
			t.Errorf("unrouted = %v, want 1", got)
		}
	})
}

func BenchmarkRoute(b *testing.B) {
	sinks := []Sink{&fakeSink{name: "tickets"}, &fakeSink{name: "pager"}, &fakeSink{name: "archive"}}
	routes := []Route{
		{Match: []string{`priority=~"1|2"`, `rule="core"`}, Sinks: []string{"pager"}},
		{Match: []string{`team="net"`, `site=~"s0.*"`}, Sinks: []string{"tickets"}, Continue: true},
		{Match: []string{`severity!="info"`}, Sinks: []string{"archive"}},
	}
	d, _ := testDispatcher(b, sinks, routes, RetryConfig{})
	ch := change("inc-1", correlator.ChangeOpened)
	b.ReportAllocs()
	for b.Loop() {
		var buf [16]int
		if out, ok := d.router.route(&ch, buf[:0]); !ok || len(out) != 2 {
			b.Fatalf("route chose %d sinks, matched %v; want 2, true", len(out), ok)
		}
	}
}

// nopSink accepts everything at once.
type nopSink struct{ name string }

func (s nopSink) Name() string { return s.name }
func (nopSink) Deliver(context.Context, correlator.Change) (bool, error) {
	return false, nil
}

func BenchmarkPublish(b *testing.B) {
	sinks := []Sink{nopSink{"tickets"}, nopSink{"pager"}, nopSink{"archive"}}
	routes := []Route{
		{Match: []string{`priority=~"1|2"`, `rule="core"`}, Sinks: []string{"pager"}},
		{Match: []string{`team="net"`, `site=~"s0.*"`}, Sinks: []string{"tickets"}, Continue: true},
		{Match: []string{`severity!="info"`}, Sinks: []string{"archive"}},
	}
	d, _ := testDispatcher(b, sinks, routes, RetryConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	ch := change("inc-1", correlator.ChangeOpened)
	b.ReportAllocs()
	for b.Loop() {
		d.Publish(ch)
	}
	b.StopTimer()
	flush, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	if err := d.Close(flush); err != nil {
		b.Fatal(err)
	}
	cancel()
	<-done
}
