package correlator

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/corrd/corrd/rules"
)

// Persister keeps what the engine must not lose on a restart: silences,
// known errors added through the API, change records and problems. The
// daemon hands it the state store.
type Persister interface {
	Put(bucket, key string, v any) error
	Delete(bucket, key string) error
	Load(bucket string, fn func(key string, data []byte) error) error
}

// The buckets of persisted state.
const (
	bucketSilences    = "silences"
	bucketKnownErrors = "known_errors"
	bucketChanges     = "changes"
	bucketProblems    = "problems"
)

// problemRecord is a problem as stored, with its group.
type problemRecord struct {
	Problem Problem `json:"problem"`
	Group   uint64  `json:"group"`
}

// ErrNotPersisted is returned by API writes the store refused: nothing was
// changed, and the caller may try again.
var ErrNotPersisted = errors.New("not stored")

// persist writes one record, if the engine has a store. API writes go
// through it before they take effect, so what the API acknowledged
// survives a restart.
func (e *Engine) persist(bucket, key string, v any) error {
	if e.store == nil {
		return nil
	}
	if err := e.store.Put(bucket, key, v); err != nil {
		e.m.persistErrors.Inc()
		e.log.Error().Err(err).Str("bucket", bucket).Str("key", key).Msg("persist")
		return fmt.Errorf("%w: %w", ErrNotPersisted, err)
	}
	return nil
}

func (e *Engine) unpersist(bucket, key string) {
	if e.store == nil {
		return
	}
	if err := e.store.Delete(bucket, key); err != nil {
		e.m.persistErrors.Inc()
		e.log.Error().Err(err).Str("bucket", bucket).Str("key", key).Msg("persist delete")
	}
}

// Restore loads the persisted state from p and keeps p for later writes.
// Call it after New and before Run. A record that no longer reads (a
// silence whose matcher or a known error whose signature this build
// rejects) is skipped with an error log, not fatal.
//
// When p is a Committer (the daemon's store), the engine becomes durable:
// Restore also loads the groups, incidents and outbox of the previous run
// and re-arms their timers, and from then on every step is committed.
func (e *Engine) Restore(p Persister) error {
	e.store = p
	var errs []error
	if c, ok := p.(Committer); ok {
		errs = append(errs, e.restoreState(c))
	}
	skip := func(bucket, key string, err error) error {
		e.log.Error().Err(err).Str("bucket", bucket).Str("key", key).Msg("stored record skipped")
		return nil
	}
	errs = append(errs, p.Load(bucketSilences, func(key string, data []byte) error {
		var s Silence
		if err := json.Unmarshal(data, &s); err != nil {
			return skip(bucketSilences, key, err)
		}
		var ms []*labels.Matcher
		for _, m := range s.Matchers {
			pm, err := labels.ParseMatcher(m)
			if err != nil {
				return skip(bucketSilences, key, err)
			}
			ms = append(ms, pm)
		}
		e.sil.list = append(e.sil.list, &silenceEntry{s: s, w: rules.NewFixedWindow("silence "+s.ID, ms, s.StartsAt, s.EndsAt)})
		return nil
	}))
	errs = append(errs, p.Load(bucketKnownErrors, func(key string, data []byte) error {
		var c rules.KnownErrorConfig
		if err := json.Unmarshal(data, &c); err != nil {
			return skip(bucketKnownErrors, key, err)
		}
		k, err := rules.CompileKnownError("stored known error", c)
		if err != nil {
			return skip(bucketKnownErrors, key, err)
		}
		e.know.kes = append(e.know.kes, k)
		return nil
	}))
	errs = append(errs, p.Load(bucketChanges, func(key string, data []byte) error {
		var c ChangeRecord
		if err := json.Unmarshal(data, &c); err != nil {
			return skip(bucketChanges, key, err)
		}
		e.know.changes = append(e.know.changes, c)
		return nil
	}))
	errs = append(errs, p.Load(bucketProblems, func(key string, data []byte) error {
		var r problemRecord
		if err := json.Unmarshal(data, &r); err != nil {
			return skip(bucketProblems, key, err)
		}
		pr := r.Problem
		e.prob.byID[pr.ID] = &pr
		e.prob.order = append(e.prob.order, pr.ID)
		if pr.Status != "resolved" {
			e.prob.byGroup[r.Group] = &pr
		}
		return nil
	}))
	return errors.Join(errs...)
}
