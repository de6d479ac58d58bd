package cli

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text lines (scan output, load input) carry keys and values as escaped
// text, so that a tab or newline inside them cannot break a line and
// binary data survives a terminal:
//
//	\\  a backslash      \t  tab      \n  newline      \r  carriage return
//	\xHH  any other byte that is not part of a printable UTF-8 character
//
// Everything else, printable UTF-8 included, is written as is. load reads
// the same escapes, so `daxkv scan | daxkv load` copies a store.
const escapeHelp = `Keys and values are escaped: \\ is a backslash, \t a tab, \n a newline,
\r a carriage return, and \xHH any other byte that is not part of a
printable UTF-8 character (control bytes, invalid UTF-8). Everything else,
printable UTF-8 included, appears as is.`

// escape renders b as one line of escaped text.
func escape(b []byte) string {
	var s strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == '\\':
			s.WriteString(`\\`)
		case r == '\t':
			s.WriteString(`\t`)
		case r == '\n':
			s.WriteString(`\n`)
		case r == '\r':
			s.WriteString(`\r`)
		case r == utf8.RuneError && n == 1, !unicode.IsPrint(r):
			for _, c := range b[:n] {
				fmt.Fprintf(&s, `\x%02x`, c)
			}
		default:
			s.Write(b[:n])
		}
		b = b[n:]
	}
	return s.String()
}

// unescape reverses escape. Bytes other than backslash sequences are
// taken as they are, so plain text needs no escaping beyond \\.
func unescape(s []byte) ([]byte, error) {
	i := 0
	for i < len(s) && s[i] != '\\' {
		i++
	}
	if i == len(s) {
		return s, nil // the common case: nothing to decode
	}
	out := make([]byte, i, len(s))
	copy(out, s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf(`lone \ at the end (write \\ for a backslash)`)
		}
		i++
		switch s[i] {
		case '\\':
			out = append(out, '\\')
		case 't':
			out = append(out, '\t')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 'x':
			hi, ok1 := unhex(s, i+1)
			lo, ok2 := unhex(s, i+2)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf(`\x must be followed by two hex digits`)
			}
			out = append(out, hi<<4|lo)
			i += 2
		default:
			return nil, fmt.Errorf(`unknown escape \%c (write \\ for a backslash)`, s[i])
		}
	}
	return out, nil
}

func unhex(s []byte, i int) (byte, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch c := s[i]; {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// jsonText is how --json prints a key or value: a JSON string when the
// bytes are valid UTF-8 (JSON escapes control characters losslessly),
// base64 otherwise. The encoding it returns ("string" or "base64") says
// which.
func jsonText(b []byte) (text, encoding string) {
	if utf8.Valid(b) {
		return string(b), "string"
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// kvJSON is one key and value under --json (get, scan).
type kvJSON struct {
	Key           string  `json:"key"`
	KeyEncoding   string  `json:"key_encoding"`
	Value         *string `json:"value,omitempty"`          // absent with --keys-only
	ValueEncoding string  `json:"value_encoding,omitempty"` // "string" or "base64"
	Len           int     `json:"len"`                      // value length in bytes
}

func newKVJSON(key, value []byte, withValue bool) kvJSON {
	r := kvJSON{Len: len(value)}
	r.Key, r.KeyEncoding = jsonText(key)
	if withValue {
		var v string
		v, r.ValueEncoding = jsonText(value)
		r.Value = &v
	}
	return r
}
