package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// DecodeStrict decodes the single YAML document data into v, strictly:
// unknown fields are errors. Its errors are YAMLErrors, one per problem,
// each with its path. When the only problems are unknown fields, v still
// holds the rest of the document (decoded as if those fields were not
// there) and known reports true, so that the caller can validate it and
// report every problem in one run.
func DecodeStrict(data []byte, v any) (known bool, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		if !onlyUnknownFields(err) {
			return false, YAMLErrors(data, err)
		}
		// Unknown fields are all: the lenient decoder fills v with the rest.
		if lerr := yaml.Unmarshal(data, v); lerr != nil {
			return false, YAMLErrors(data, err)
		}
		return true, YAMLErrors(data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return false, errors.New("more than one YAML document")
	}
	return true, nil
}

// onlyUnknownFields reports whether err is a yaml.TypeError listing only
// unknown fields.
func onlyUnknownFields(err error) bool {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return false
	}
	for _, msg := range te.Errors {
		m := lineMsg.FindStringSubmatch(msg)
		if m == nil || !unknownField.MatchString(m[2]) {
			return false
		}
	}
	return true
}

// YAMLErrors splits a decoding error of data into one error per problem
// and names the path of each in the document where its line allows:
// "line 3: field foo not found in type main.WebConfig" becomes
// "web.foo: unknown field (line 3)". A sequence item with a name is named
// as the configuration's own errors name it: `rules[0] "store-power":
// windoe: unknown field (line 9)`.
func YAMLErrors(data []byte, err error) error {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		root = yaml.Node{}
	}
	errs := make([]error, len(msgs))
	for i, msg := range msgs {
		errs[i] = errors.New(msg)
		m := lineMsg.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		line, _ := strconv.Atoi(m[1])
		text, name := m[2], ""
		if f := unknownField.FindStringSubmatch(text); f != nil {
			text, name = "unknown field", f[1]
		}
		// A custom decoder may have put its own "line N: " in front.
		if n := lineMsg.FindStringSubmatch(text); n != nil && n[1] == m[1] {
			text = n[2]
		}
		if p := pathAt(&root, line, name, ""); p != "" {
			errs[i] = fmt.Errorf("%s: %s (line %d)", p, text, line)
		}
	}
	return errors.Join(errs...)
}

var (
	lineMsg      = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
)

// pathAt returns the path of the first mapping key (named name, when name
// is set) or sequence item on line, "" if there is none.
func pathAt(n *yaml.Node, line int, name, prefix string) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p := pathAt(c, line, name, prefix); p != "" {
				return p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(prefix, k.Value)
			if k.Line == line && (name == "" || k.Value == name) {
				return p
			}
			if p := pathAt(v, line, name, p); p != "" {
				return p
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			if c.Line == line && c.Kind == yaml.ScalarNode && name == "" {
				return p
			}
			if item, ok := itemName(c); ok {
				p += " " + strconv.Quote(item)
			}
			if p := pathAt(c, line, name, p); p != "" {
				return p
			}
		}
	}
	return ""
}

// joinPath appends key to prefix: after a named sequence item
// (`rules[0] "a"`) with ": ", otherwise with ".".
func joinPath(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case prefix[len(prefix)-1] == '"':
		return prefix + ": " + key
	}
	return prefix + "." + key
}

// itemName is the scalar value of a mapping's name key.
func itemName(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.MappingNode {
		return "", false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode {
			return v.Value, true
		}
	}
	return "", false
}
