// Package schema renders a correlator.Change in the wire format every output
// backend shares: the Change JSON object with a top-level "version" field.
package schema

import (
	"encoding/json"

	"github.com/corrd/corrd/correlator"
)

// Version is the schema version written in every document.
const Version = "1"

// Envelope is the document: Version first, then the fields of the Change.
type Envelope struct {
	Version string `json:"version"`
	correlator.Change
}

// Marshal renders change as one compact JSON document without a trailing
// newline.
func Marshal(change correlator.Change) ([]byte, error) {
	return json.Marshal(Envelope{Version: Version, Change: change})
}
