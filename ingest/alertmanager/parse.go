package alertmanager

import (
	"bytes"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a single-pass JSON parser for webhook messages. It accepts
// exactly the documents encoding/json accepts, and reads them as
// json.Unmarshal would read them into the message struct of
// decode_test.go (case-insensitive keys, later duplicates win, invalid
// UTF-8 and lone surrogates replaced by U+FFFD). On 100-alert messages it
// is several times faster than encoding/json and allocates 20 times less
// often (BenchmarkDecode100Alerts against BenchmarkDecodeReference100Alerts);
// the differential fuzz target FuzzDecode holds the two to the same results.

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// syntaxError is malformed JSON at an offset.
type syntaxError struct {
	msg string
	off int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

var errDepth = errors.New("exceeded max depth")

// scanner walks a JSON document. Its methods start at the first byte of a
// value (white space skipped) and leave pos after it.
type scanner struct {
	data  []byte
	pos   int
	depth int
	str   []byte // scratch for unescaped strings
}

func (s *scanner) reset(data []byte) {
	s.data, s.pos, s.depth = data, 0, 0
}

func (s *scanner) fail(msg string) error {
	if s.pos >= len(s.data) {
		return &syntaxError{"unexpected end of input", len(s.data)}
	}
	return &syntaxError{fmt.Sprintf("%s, found %s", msg, quoteByte(s.data[s.pos])), s.pos}
}

func quoteByte(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("byte 0x%02x", c)
	}
	return fmt.Sprintf("%q", c)
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte, 0 at the end.
func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// kindName names the JSON type of the value starting with c.
func kindName(c byte) string {
	switch c {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// object reads an object, calling field with each key (valid until the
// next string read) and the scanner at the value, which field must consume.
func (s *scanner) object(field func(key []byte) error) error {
	if s.depth++; s.depth > maxDepth {
		return errDepth
	}
	s.pos++ // '{'
	s.ws()
	if s.peek() == '}' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.fail("want an object key")
		}
		key, err := s.string()
		if err != nil {
			return err
		}
		s.ws()
		if s.peek() != ':' {
			return s.fail("want ':' after an object key")
		}
		s.pos++
		s.ws()
		if err := field(key); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
			s.ws()
		case '}':
			s.pos++
			s.depth--
			return nil
		default:
			return s.fail("want ',' or '}' in an object")
		}
	}
}

// array reads an array, calling elem with the scanner at each element,
// which elem must consume.
func (s *scanner) array(elem func(i int) error) error {
	if s.depth++; s.depth > maxDepth {
		return errDepth
	}
	s.pos++ // '['
	s.ws()
	if s.peek() == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for i := 0; ; i++ {
		if err := elem(i); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
			s.ws()
		case ']':
			s.pos++
			s.depth--
			return nil
		default:
			return s.fail("want ',' or ']' in an array")
		}
	}
}

// skip reads and checks any value.
func (s *scanner) skip() error {
	switch c := s.peek(); c {
	case '{':
		return s.object(func([]byte) error { return s.skip() })
	case '[':
		return s.array(func(int) error { return s.skip() })
	case '"':
		_, err := s.string()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			_, err := s.number()
			return err
		}
		return s.fail("want a value")
	}
}

func (s *scanner) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if s.pos >= len(s.data) || s.data[s.pos] != lit[i] {
			return s.fail("invalid literal")
		}
		s.pos++
	}
	return nil
}

// number reads a number and returns its text.
func (s *scanner) number() ([]byte, error) {
	start := s.pos
	if s.peek() == '-' {
		s.pos++
	}
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return nil, s.fail("want a digit")
	}
	if s.peek() == '.' {
		s.pos++
		if !isDigit(s.peek()) {
			return nil, s.fail("want a digit after '.'")
		}
		s.digits()
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if !isDigit(s.peek()) {
			return nil, s.fail("want a digit in the exponent")
		}
		s.digits()
	}
	return s.data[start:s.pos], nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (s *scanner) digits() {
	for s.pos < len(s.data) && isDigit(s.data[s.pos]) {
		s.pos++
	}
}

// string reads a string and returns its content unescaped: a slice of the
// input when it needs no change, else of the scratch buffer, valid until
// the next call.
func (s *scanner) string() ([]byte, error) {
	data := s.data
	start := s.pos + 1
	i := start
	for i < len(data) {
		c := data[i]
		if plain[c] {
			i++
			continue
		}
		if c == '"' {
			s.pos = i + 1
			return data[start:i], nil
		}
		if c < utf8.RuneSelf { // '\\' or a control character
			break
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	b := append(s.str[:0], data[start:i]...)
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			s.str = b
			return b, nil
		case c == '\\':
			if i+1 >= len(data) {
				s.pos = len(data)
				return nil, s.fail("")
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(data[i+2:])
				if r < 0 {
					s.pos = i + 2
					for k := 0; k < 4 && s.pos < len(data) && isHex(data[s.pos]); k++ {
						s.pos++
					}
					return nil, s.fail("want 4 hex digits after \\u")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					var r2 rune = -1
					if i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
						r2 = hex4(data[i+2:])
					}
					if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
						b = utf8.AppendRune(b, dec)
						i += 6
						continue
					}
					r = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				s.pos = i + 1
				return nil, s.fail("invalid escape")
			}
			i += 2
		case c < 0x20:
			s.pos = i
			return nil, s.fail("control character in a string")
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, data[i:i+size]...)
			}
			i += size
		}
	}
	s.pos = len(data)
	return nil, s.fail("")
}

// plain tells the bytes a string can hold as they are: printable ASCII but
// '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// hex4 decodes the 4 hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// field returns the index of the name in names an object key selects, as
// encoding/json matches keys to struct fields: exactly, or else without
// regard to case (Unicode simple folding). It returns -1 for none.
func field(key []byte, names []string) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	for i, n := range names {
		// A folded byte is at most 3 bytes long (K, the Kelvin sign, is
		// 3 bytes and folds to k).
		if len(key) <= 3*len(n) && bytes.EqualFold(key, []byte(n)) {
			return i
		}
	}
	return -1
}
