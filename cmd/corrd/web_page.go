package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/corrd/corrd/correlator"
)

// The page size of GET /api/v1/incidents: limit defaults to
// defaultPageLimit and may not exceed maxPageLimit.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

func pageLimit(s string) (int, error) {
	if s == "" {
		return defaultPageLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPageLimit {
		return 0, fmt.Errorf("invalid limit %q: want a whole number from 1 to %d", s, maxPageLimit)
	}
	return n, nil
}

// A cursor is the position of the last incident of a page: its opening
// time in Unix nanoseconds and its id, base64url-encoded. It is opaque to
// clients.
func encodeCursor(c correlator.Cursor) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d:%s", c.OpenedAt.UnixNano(), c.ID))
}

var errCursor = errors.New("invalid cursor: pass the \"next\" value of the previous page as it is")

func decodeCursor(s string) (correlator.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return correlator.Cursor{}, errCursor
	}
	ns, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || id == "" {
		return correlator.Cursor{}, errCursor
	}
	return correlator.Cursor{OpenedAt: time.Unix(0, n).UTC(), ID: id}, nil
}

// writeIncidentPage streams {"incidents": [...], "next": "..."} one
// incident at a time; next is left out on the last page.
func writeIncidentPage(w http.ResponseWriter, incs []correlator.Incident, next string, log zerolog.Logger) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	err := func() error {
		if _, err := bw.WriteString(`{"incidents":[`); err != nil {
			return err
		}
		for i := range incs {
			if i > 0 {
				if err := bw.WriteByte(','); err != nil {
					return err
				}
			}
			if err := enc.Encode(&incs[i]); err != nil {
				return err
			}
		}
		bw.WriteString("]")
		if next != "" {
			fmt.Fprintf(bw, `,"next":%q`, next)
		}
		bw.WriteString("}\n")
		return bw.Flush()
	}()
	if err != nil {
		log.Debug().Err(err).Msg("write incident page")
	}
}
