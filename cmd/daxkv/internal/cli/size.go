package cli

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Binary size units. Decimal ones (KB, MB, GB, or a bare K, M, G) are
// refused rather than guessed: 1 GB is not a multiple of the 4 KiB pages a
// region is made of, and reading it as 1 GiB would be a surprise too.
var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"kib", 10}, {"mib", 20}, {"gib", 30}, {"tib", 40}, {"b", 0}}

// parseSize reads a byte count: plain digits ("4096", "4096B") or a whole
// number of KiB, MiB, GiB or TiB ("64MiB", "1 GiB", case-insensitive).
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	shift := uint(0)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, shift = strings.TrimSpace(rest), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) || (err == nil && n > math.MaxInt64>>shift):
		return 0, fmt.Errorf("size %q is too large", s)
	case err != nil && strings.ContainsAny(t, "kmgtp"):
		return 0, fmt.Errorf("size %q: units are binary, write KiB, MiB, GiB or TiB (1GiB = 1073741824 bytes)", s)
	case err != nil || n < 0:
		return 0, fmt.Errorf("size %q: want a whole number of bytes, KiB, MiB, GiB or TiB (e.g. 1GiB, 64MiB, 4096)", s)
	}
	return n << shift, nil
}

// sizeSetting parses the size setting name (flag, DAXKV_* or config file);
// a bad value names where it was given.
func (a *app) sizeSetting(name string) (int64, error) {
	n, err := parseSize(a.v.GetString(name))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", a.settingLabel(name), err)
	}
	return n, nil
}

// intSetting parses an integer setting strictly: viper's GetInt would
// read "ten" from the environment as 0.
func (a *app) intSetting(name string, min int64) (int64, error) {
	s := a.v.GetString(name)
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, usageErrorf("%s: not a whole number", a.settingLabel(name))
	}
	if n < min {
		return 0, usageErrorf("%s: must be at least %d", a.settingLabel(name), min)
	}
	return n, nil
}

// fmtBytes renders a byte count for people: "1.00 GiB (1073741824 B)"
// keeps the exact figure next to the rounded one.
func fmtBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%s (%d B)", fmtIEC(n), n)
}

// fmtIEC renders n with a binary unit and three significant digits.
func fmtIEC(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	switch {
	case i == 0:
		return fmt.Sprintf("%d B", n)
	case f >= 100:
		return fmt.Sprintf("%.0f %s", f, units[i])
	case f >= 10:
		return fmt.Sprintf("%.1f %s", f, units[i])
	default:
		return fmt.Sprintf("%.2f %s", f, units[i])
	}
}

// fmtCount renders n with thousands separators: 1,000,000.
func fmtCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// plural renders a count with its noun: "1 batch", "1,000 batches".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmtCount(n) + " " + many
}
