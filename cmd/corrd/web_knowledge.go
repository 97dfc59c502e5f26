package main

// The knowledge endpoints: silences, known errors, change records and
// problems.

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/corrd/corrd/correlator"
	"github.com/corrd/corrd/rules"
)

func (a incidentAPI) listSilences(w http.ResponseWriter, _ *http.Request) {
	a.writeJSON(w, http.StatusOK, struct {
		Silences []correlator.Silence `json:"silences"`
	}{a.src.Silences()})
}

// addSilence creates a silence: {"matchers": [...], "starts_at", "ends_at",
// "created_by", "comment"}.
func (a incidentAPI) addSilence(w http.ResponseWriter, r *http.Request) {
	var in correlator.Silence
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		a.writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid silence: " + err.Error()})
		return
	}
	if in.ID != "" || in.Status != "" {
		a.writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid silence: id and status are set by corrd"})
		return
	}
	out, err := a.src.AddSilence(in)
	if err != nil {
		a.writeError(w, "", err)
		return
	}
	a.writeJSON(w, http.StatusCreated, out)
}

func (a incidentAPI) expireSilence(w http.ResponseWriter, r *http.Request) {
	out, err := a.src.ExpireSilence(r.PathValue("id"))
	if err != nil {
		a.writeError(w, r.PathValue("id"), err)
		return
	}
	a.writeJSON(w, http.StatusOK, out)
}

// decodeStrict reads a bounded JSON body, rejecting unknown fields.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (a incidentAPI) listKnownErrors(w http.ResponseWriter, _ *http.Request) {
	kes := a.src.KnownErrors()
	if kes == nil {
		kes = []correlator.KnownErrorInfo{}
	}
	a.writeJSON(w, http.StatusOK, struct {
		KnownErrors []correlator.KnownErrorInfo `json:"known_errors"`
	}{kes})
}

func (a incidentAPI) addKnownError(w http.ResponseWriter, r *http.Request) {
	var in rules.KnownErrorConfig
	if err := decodeStrict(w, r, &in); err != nil {
		a.writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid known error: " + err.Error()})
		return
	}
	out, err := a.src.AddKnownError(in)
	if err != nil {
		a.writeError(w, in.ID, err)
		return
	}
	a.writeJSON(w, http.StatusCreated, out)
}

func (a incidentAPI) deleteKnownError(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.src.DeleteKnownError(id); err != nil {
		a.writeError(w, id, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// addChanges takes one change record or an array of them.
func (a incidentAPI) addChanges(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&raw); err != nil {
		a.writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid change records: " + err.Error()})
		return
	}
	var recs []correlator.ChangeRecord
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var err error
	if t := strings.TrimSpace(string(raw)); strings.HasPrefix(t, "[") {
		err = dec.Decode(&recs)
	} else {
		var one correlator.ChangeRecord
		err = dec.Decode(&one)
		recs = []correlator.ChangeRecord{one}
	}
	if err != nil {
		a.writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid change records: " + err.Error()})
		return
	}
	if err := a.src.AddChanges(recs); err != nil {
		a.writeError(w, "", err)
		return
	}
	a.writeJSON(w, http.StatusAccepted, struct {
		Accepted int `json:"accepted"`
	}{len(recs)})
}

func (a incidentAPI) listChanges(w http.ResponseWriter, _ *http.Request) {
	cs := a.src.Changes()
	if cs == nil {
		cs = []correlator.ChangeRecord{}
	}
	a.writeJSON(w, http.StatusOK, struct {
		Changes []correlator.ChangeRecord `json:"changes"`
	}{cs})
}

func (a incidentAPI) listProblems(w http.ResponseWriter, _ *http.Request) {
	a.writeJSON(w, http.StatusOK, struct {
		Problems []correlator.Problem `json:"problems"`
	}{a.src.Problems()})
}

func (a incidentAPI) getProblem(w http.ResponseWriter, r *http.Request) {
	p, ok := a.src.Problem(r.PathValue("id"))
	if !ok {
		a.writeError(w, r.PathValue("id"), correlator.ErrUnknownProblem)
		return
	}
	a.writeJSON(w, http.StatusOK, p)
}

func (a incidentAPI) resolveProblem(w http.ResponseWriter, r *http.Request) {
	p, err := a.src.ResolveProblem(r.PathValue("id"))
	if err != nil {
		a.writeError(w, r.PathValue("id"), err)
		return
	}
	a.writeJSON(w, http.StatusOK, p)
}

// problemKnownError records a known error from a problem: the body holds
// title, root_cause, workaround, link (and optionally id and matchers; by
// default the problem's rule and group).
func (a incidentAPI) problemKnownError(w http.ResponseWriter, r *http.Request) {
	var in rules.KnownErrorConfig
	if err := decodeStrict(w, r, &in); err != nil {
		a.writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid known error: " + err.Error()})
		return
	}
	k, err := a.src.KnownErrorFromProblem(r.PathValue("id"), in)
	if err != nil {
		a.writeError(w, r.PathValue("id"), err)
		return
	}
	a.writeJSON(w, http.StatusCreated, k)
}
