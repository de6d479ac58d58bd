package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// emit prints v as one indented JSON object under --json, and otherwise
// calls text to print it for people. Every command prints through emit so
// that --json means the same thing everywhere.
func (a *app) emit(v any, text func(w io.Writer) error) error {
	if a.v.GetBool("json") {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return text(a.stdout)
}

// section is a titled block of key/value rows in human output.
type section struct {
	title string
	rows  []row
}

type row struct{ key, value string }

func (s *section) add(key, format string, args ...any) {
	s.rows = append(s.rows, row{key, fmt.Sprintf(format, args...)})
}

// writeSections prints sections with one value column aligned across all
// of them, so a report reads as a single table.
func writeSections(w io.Writer, sections ...section) error {
	width := 0
	for _, s := range sections {
		for _, r := range s.rows {
			width = max(width, len(r.key))
		}
	}
	var b strings.Builder
	for i, s := range sections {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s.title)
		b.WriteByte('\n')
		for _, r := range s.rows {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, r.key, r.value)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// yesNo renders a feature flag.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
