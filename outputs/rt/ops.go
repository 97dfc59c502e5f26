package rt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/corrd/corrd/correlator"
)

// setField sets one ticket field and reads the ticket back: RT answers a
// refused update with 200 and a message, so the read decides.
func (s *Sink) setField(ctx context.Context, id int, field, value string) error {
	var val any = value
	if n, err := strconv.Atoi(value); err == nil {
		val = n
	}
	path := "/ticket/" + strconv.Itoa(id)
	var msgs []string
	if err := s.cl.do(ctx, call{method: http.MethodPut, path: path, body: map[string]any{field: val}}, &msgs); err != nil {
		return fmt.Errorf("set %s of ticket %d: %w", field, id, err)
	}
	var t map[string]json.RawMessage
	if err := s.cl.do(ctx, call{method: http.MethodGet, path: path}, &t); err != nil {
		return fmt.Errorf("read ticket %d after setting %s: %w", id, field, err)
	}
	got := jsonScalar(t[field])
	if got == value {
		return nil
	}
	msg := fmt.Sprintf("%s is %q after setting it to %q", field, got, value)
	if len(msgs) > 0 {
		msg += ": " + strings.Join(msgs, "; ")
	}
	return fmt.Errorf("set %s of ticket %d: %w", field, id,
		&APIError{StatusCode: http.StatusOK, Status: "200 OK", Message: clip(msg)})
}

// jsonScalar renders a JSON string or number as text; "" for anything else.
func jsonScalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// comment adds the change's comment to ticket id, unless an earlier attempt
// whose answer was lost already did.
func (s *Sink) comment(ctx context.Context, id int, ch *correlator.Change) error {
	subject := commentSubject(ch)
	marker := strconv.Itoa(id) + " " + subject
	if ch.Resumed || s.isUnsure(marker) {
		done, err := s.hasComment(ctx, id, subject)
		if err != nil {
			return err
		}
		if done {
			s.setUnsure(marker, false)
			return nil
		}
	}
	body := map[string]any{
		"Subject":     subject,
		"Content":     commentContent(ch),
		"ContentType": "text/plain",
	}
	var msgs []string
	err := s.cl.do(ctx, call{method: http.MethodPost, path: "/ticket/" + strconv.Itoa(id) + "/comment", body: body}, &msgs)
	if err != nil {
		s.setUnsure(marker, ambiguous(err))
		return fmt.Errorf("comment on ticket %d: %w", id, err)
	}
	s.setUnsure(marker, false)
	return nil
}

func (s *Sink) isUnsure(marker string) bool {
	s.unsureMu.Lock()
	defer s.unsureMu.Unlock()
	_, ok := s.unsure[marker]
	return ok
}

// maxUnsure bounds the comments remembered as unsure; past it the oldest
// doubt is not tracked (a retry may then duplicate a comment).
const maxUnsure = 1024

func (s *Sink) setUnsure(marker string, unsure bool) {
	s.unsureMu.Lock()
	defer s.unsureMu.Unlock()
	if !unsure {
		delete(s.unsure, marker)
		return
	}
	if len(s.unsure) >= maxUnsure {
		for k := range s.unsure {
			delete(s.unsure, k)
			break
		}
	}
	s.unsure[marker] = struct{}{}
}

// maxHistoryPages bounds the history pages searched for a lost comment.
const maxHistoryPages = 20

// hasComment reports whether ticket id has a comment with subject, from
// its history (RT keeps a comment's subject as the transaction's Data).
func (s *Sink) hasComment(ctx context.Context, id int, subject string) (bool, error) {
	// A transaction has both "type" ("transaction") and "Type" keys,
	// which encoding/json cannot tell apart in a struct.
	type txn = map[string]json.RawMessage
	for page := 1; page <= maxHistoryPages; page++ {
		q := url.Values{}
		q.Set("fields", "Type,Data")
		q.Set("per_page", "100")
		q.Set("page", strconv.Itoa(page))
		var items collection[txn]
		path := "/ticket/" + strconv.Itoa(id) + "/history?" + q.Encode()
		if err := s.cl.do(ctx, call{method: http.MethodGet, path: path}, &items); err != nil {
			return false, fmt.Errorf("read history of ticket %d: %w", id, err)
		}
		for _, t := range items.Items {
			if jsonScalar(t["Type"]) == "Comment" && strings.TrimSpace(jsonScalar(t["Data"])) == subject {
				return true, nil
			}
		}
		if len(items.Items) == 0 || float64(page) >= items.Pages {
			return false, nil
		}
	}
	return false, nil
}

// ticketLookupType is the LookupType of ticket custom fields.
const ticketLookupType = "RT::Queue-RT::Ticket"

// ensureCustomField checks once that the key's custom field exists, and
// creates it when the config asks to. Without it the search finds nothing
// and every change would create a ticket.
func (s *Sink) ensureCustomField(ctx context.Context) error {
	s.cfMu.Lock()
	defer s.cfMu.Unlock()
	if s.cfReady {
		return nil
	}
	query, _ := json.Marshal([]map[string]string{
		{"field": "Name", "value": s.cf},
		{"field": "LookupType", "value": ticketLookupType},
		{"field": "Disabled", "value": "0"},
	})
	var page collection[ref]
	path := "/customfields?" + url.Values{"query": {string(query)}}.Encode()
	if err := s.cl.do(ctx, call{method: http.MethodGet, path: path}, &page); err != nil {
		return fmt.Errorf("look up custom field %q: %w", s.cf, err)
	}
	if len(page.Items) > 0 {
		s.cfReady = true
		return nil
	}
	if !s.createCF {
		return &APIError{StatusCode: http.StatusNotFound, Status: "404 Not Found",
			Message: fmt.Sprintf("ticket custom field %q does not exist: create it (Freeform, one value, applied to queue %q or globally) or set create_custom_field: true", s.cf, s.queue)}
	}
	body := map[string]any{
		"Name":        s.cf,
		"Type":        "Freeform",
		"MaxValues":   1,
		"LookupType":  ticketLookupType,
		"Description": "corrd incident key",
		"Queue":       0, // applied globally
	}
	var created ref
	if err := s.cl.do(ctx, call{method: http.MethodPost, path: "/customfield", body: body}, &created); err != nil {
		return fmt.Errorf("create custom field %q: %w", s.cf, err)
	}
	if created.ID <= 0 {
		return errors.New("create custom field: answer without an id")
	}
	s.cfReady = true
	return nil
}
