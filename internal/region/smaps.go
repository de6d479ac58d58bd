package region

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// parseSmapsHuge reads /proc/<pid>/smaps text and returns the bytes mapped
// with 2 MiB pages (the ShmemPmdMapped and FilePmdMapped fields) in the
// areas inside [base, base+length). The mapping may span several areas:
// Protect splits it.
func parseSmapsHuge(r io.Reader, base, length uintptr) (int64, error) {
	var total int64
	inside := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if lo, hi, ok := areaBounds(name); ok {
			inside = lo >= base && lo < hi && hi-base <= length
			continue
		}
		if !inside || (name != "ShmemPmdMapped:" && name != "FilePmdMapped:") {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(rest), " ")
		kb, err := strconv.ParseInt(num, 10, 64)
		if err != nil || unit != "kB" || kb < 0 || kb > 1<<40 {
			return 0, fmt.Errorf("region: smaps: bad line %q", line)
		}
		total += kb << 10
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("region: smaps: %w", err)
	}
	return total, nil
}

// areaBounds parses an area header's "start-end" field (hex addresses).
func areaBounds(s string) (lo, hi uintptr, ok bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(a, 16, 64)
	y, err2 := strconv.ParseUint(b, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(x), uintptr(y), true
}
