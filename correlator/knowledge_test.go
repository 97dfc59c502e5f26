package correlator

import (
	"strings"
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/corrd/corrd/rules"
)

// Known-error hits are labelled with the id of a rules-file known error,
// and with "api" for every known error added through the API: the label
// value never comes from API input.
func TestKnownErrorHitLabels(t *testing.T) {
	set := compileRules(t, `
known_errors:
  - id: KE-1
    title: Register firmware
    match: ['store="0001"']
    workaround: Reboot the register
rules:
  - name: store-registers
    match: ['alertname="RegisterDown"']
    group_by: [store]
    group_wait: 0s
`)
	synctest.Test(t, func(t *testing.T) {
		h := startEngine(t, Options{Shards: 2}, set)
		defer h.stop()
		forged := "KE-from-api"
		if _, err := h.e.AddKnownError(rules.KnownErrorConfig{ID: forged, Title: "Power", Match: []string{`store="0002"`}, Workaround: "Wait"}); err != nil {
			t.Fatal(err)
		}
		h.submit(register("0001", 1, 0), register("0002", 1, 0))
		for _, inc := range h.e.Incidents(Filter{}) {
			if len(inc.KnownErrors) != 1 {
				t.Fatalf("incident %s: got known errors %+v, want one", inc.GroupKey, inc.KnownErrors)
			}
		}
		if got := testutil.ToFloat64(h.e.m.knownErrorHits.WithLabelValues("KE-1")); got != 1 {
			t.Errorf("got %v hits for KE-1, want 1", got)
		}
		if got := testutil.ToFloat64(h.e.m.knownErrorHits.WithLabelValues(apiKnownError)); got != 1 {
			t.Errorf("got %v hits for API known errors, want 1", got)
		}
		out, err := testutil.CollectAndFormat(h.e.m.knownErrorHits, expfmt.TypeTextPlain, "corrd_correlator_known_error_hits_total")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), forged) {
			t.Errorf("an API id became a label value:\n%s", out)
		}
	})
}
