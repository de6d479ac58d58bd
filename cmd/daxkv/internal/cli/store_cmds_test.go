package cli

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daxkv/daxkv/store"
)

// scratchDir is a directory for regions: tmpfs when the machine has it
// (emulated pmem, as the demo uses), else the test's temp dir.
func scratchDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "daxkv-cli-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// newRegion runs daxkv init and returns the region path.
func newRegion(t *testing.T) string {
	t.Helper()
	path := filepath.Join(scratchDir(t), "kv.region")
	if r := run(t, "init", "-p", path, "--size", "32MiB"); r.code != ExitOK {
		t.Fatalf("init: exit %d: %s", r.code, r.stderr)
	}
	return path
}

// ok runs args and fails the test unless they exit 0.
func ok(t *testing.T, args ...string) result {
	t.Helper()
	r := run(t, args...)
	if r.code != ExitOK {
		t.Fatalf("%q: exit %d, stderr %q", args, r.code, r.stderr)
	}
	return r
}

// checkUsage asserts a usage error: exit 2 with the usage and every want.
func checkUsage(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.code != ExitUsage || !strings.HasPrefix(r.stderr, "daxkv: ") || !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("exit %d, stderr %q; want %d with the usage", r.code, r.stderr, ExitUsage)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q lacks %q", r.stderr, w)
		}
	}
}

// withStdin makes s the standard input of commands run in this test.
func withStdin(t *testing.T, s string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(s)
	t.Cleanup(func() { stdin = old })
}

func TestInit(t *testing.T) {
	isolate(t)
	path := filepath.Join(scratchDir(t), "kv.region")
	r := ok(t, "init", "-p", path, "--size", "32MiB", "--wal-size", "1MiB", "--json")
	rep := decode[initReport](t, r)
	if rep.Path != path || rep.Size != 32<<20 || rep.WALSize != 1<<20 || rep.Free <= 0 || rep.Free >= rep.Size || rep.Mode == "" || rep.Flush == "" {
		t.Errorf("init report %+v", rep)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 32<<20 {
		t.Fatalf("region file: %v, %v", fi, err)
	}

	// An existing path is refused and left alone: the data survives.
	ok(t, "put", "-p", path, "k", "v")
	checkFailure(t, run(t, "init", "-p", path, "--size", "64MiB"), path, "already exists")
	if got := ok(t, "get", "-p", path, "k").stdout; got != "v" {
		t.Errorf("after refused init, k = %q", got)
	}

	// Text output names the path and the sizes.
	other := filepath.Join(filepath.Dir(path), "other.region")
	r = ok(t, "init", "-p", other, "--size", "16777216")
	for _, want := range []string{"Created " + other, "16.0 MiB", "WAL", "mode"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("init text lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestInitBadInput(t *testing.T) {
	dir := isolate(t)
	path := filepath.Join(dir, "kv.region")
	checkUsage(t, run(t, "init", "-p", path), "--size")
	checkFailure(t, run(t, "init", "--size", "1GiB"), "--path")
	checkFailure(t, run(t, "init", "-p", path, "--size", "1GB"), "--size 1GB", "GiB")
	checkFailure(t, run(t, "init", "-p", path, "--size", "lots"), "--size lots", "KiB, MiB, GiB or TiB")
	checkFailure(t, run(t, "init", "-p", path, "--size", "-4096"), "--size -4096")
	checkFailure(t, run(t, "init", "-p", path, "--size", "1.5GiB"), "--size 1.5GiB")
	checkFailure(t, run(t, "init", "-p", path, "--size", "0"), "more than 0")
	checkFailure(t, run(t, "init", "-p", path, "--size", "16777300"), "multiple of 4096")
	checkFailure(t, run(t, "init", "-p", path, "--size", "4KiB"), "below the minimum")
	checkFailure(t, run(t, "init", "-p", path, "--size", "16MiB", "--wal-size", "16MiB"), "--wal-size 16MiB", "at most half the region")
	checkFailure(t, run(t, "init", "-p", path, "--size", "16MiB", "--wal-size", "5000"), "--wal-size 5000", "multiple of 4 KiB")
	checkFailure(t, run(t, "init", "-p", path, "--size", "16MiB", "--wal-size", "4KiB"), "at least 64 KiB")
	checkFailure(t, run(t, "init", "-p", path, "--size", "99999999TiB"), "too large")
	t.Setenv("DAXKV_SIZE", "2GB")
	checkFailure(t, run(t, "init", "-p", path), "DAXKV_SIZE=2GB")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("failed inits left %s behind (%v)", path, err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "4096": 4096, "4096B": 4096, "4096 b": 4096, "1KiB": 1024, "64mib": 64 << 20,
		"1 GiB": 1 << 30, "2TiB": 2 << 40, " 3GIB ": 3 << 30, "8388607TiB": 8388607 << 40,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "1GB", "1G", "1k", "1.5MiB", "-1", "0x10", "1 GiB B", "8388608TiB", "99999999999999999999"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := fmtCount(n); got != want {
			t.Errorf("fmtCount(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{512: "512 B", 1536: "1.50 KiB", 64 << 20: "64.0 MiB", 1 << 30: "1.00 GiB", 200 << 30: "200 GiB"} {
		if got := fmtIEC(n); got != want {
			t.Errorf("fmtIEC(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPutGetDel(t *testing.T) {
	isolate(t)
	path := newRegion(t)

	if r := ok(t, "put", "-p", path, "greeting", "hello world"); r.stdout != "" || r.stderr != "" {
		t.Errorf("put printed %q / %q, want nothing", r.stdout, r.stderr)
	}
	if r := ok(t, "get", "-p", path, "greeting"); r.stdout != "hello world" {
		t.Errorf("get = %q, want the exact value (no newline off a terminal)", r.stdout)
	}
	r := ok(t, "get", "-p", path, "greeting", "--json")
	if g := decode[map[string]any](t, r); g["key"] != "greeting" || g["value"] != "hello world" || g["value_encoding"] != "string" || g["len"] != float64(11) {
		t.Errorf("get --json = %v", g)
	}

	// Binary values: exact bytes from a file, base64 under --json.
	bin := []byte{0, 1, 2, 0xff, '\n', 0xfe}
	file := filepath.Join(t.TempDir(), "value.bin")
	if err := os.WriteFile(file, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, "put", "-p", path, "bin", "--value-file", file)
	if got := ok(t, "get", "-p", path, "bin").stdout; got != string(bin) {
		t.Errorf("get bin = %q, want %q", got, bin)
	}
	r = ok(t, "get", "-p", path, "bin", "--json")
	if g := decode[map[string]any](t, r); g["value"] != "AAEC/wr+" || g["value_encoding"] != "base64" || g["len"] != float64(6) {
		t.Errorf("get --json of binary = %v", g)
	}

	// A value of 4 KiB from standard input lives in its own extent.
	big := strings.Repeat("0123456789abcdef", 256)
	withStdin(t, big)
	ok(t, "put", "-p", path, "big", "--value-file", "-")
	if got := ok(t, "get", "-p", path, "big").stdout; got != big {
		t.Errorf("get big: %d bytes, want %d", len(got), len(big))
	}
	// An empty value is a value.
	ok(t, "put", "-p", path, "empty", "")
	if r := ok(t, "get", "-p", path, "empty", "--json"); !strings.Contains(r.stdout, `"len": 0`) || !strings.Contains(r.stdout, `"value": ""`) {
		t.Errorf("get empty --json: %s", r.stdout)
	}

	// Overwrite, then delete.
	ok(t, "put", "-p", path, "greeting", "bye")
	if got := ok(t, "get", "-p", path, "greeting").stdout; got != "bye" {
		t.Errorf("after overwrite: %q", got)
	}
	r = ok(t, "del", "-p", path, "greeting", "--json")
	if d := decode[delReport](t, r); !d.Deleted || d.Key != "greeting" {
		t.Errorf("del --json = %+v", d)
	}
	checkFailure(t, run(t, "get", "-p", path, "greeting"), `key "greeting" not found`)
	checkFailure(t, run(t, "get", "-p", path, "greeting", "--json"), "not found")

	// Deleting a missing key is fine, and said so.
	r = ok(t, "del", "-p", path, "greeting")
	if r.stdout != "" || !strings.Contains(r.stderr, "not found; nothing deleted") {
		t.Errorf("del of a missing key: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	if d := decode[delReport](t, ok(t, "del", "-p", path, "greeting", "--json")); d.Deleted {
		t.Errorf("del --json of a missing key says deleted")
	}

	// Survives reopening with the path from the environment.
	t.Setenv("DAXKV_PATH", path)
	if got := ok(t, "get", "bin").stdout; got != string(bin) {
		t.Errorf("get via DAXKV_PATH = %q", got)
	}
}

func TestKVBadInput(t *testing.T) {
	dir := isolate(t)
	path := newRegion(t)
	checkUsage(t, run(t, "put", "-p", path, "k"), "VALUE or --value-file")
	checkUsage(t, run(t, "put", "-p", path, "k", "v", "--value-file", "f"), "not both")
	checkUsage(t, run(t, "put", "-p", path))
	checkUsage(t, run(t, "get", "-p", path))
	checkUsage(t, run(t, "get", "-p", path, "a", "b"))
	checkUsage(t, run(t, "del", "-p", path))
	checkFailure(t, run(t, "put", "-p", path, "k", "--value-file", filepath.Join(dir, "nope")), "no such file")
	checkFailure(t, run(t, "put", "-p", path, "", "v"), "empty key")
	checkFailure(t, run(t, "put", "-p", path, strings.Repeat("k", 1025), "v"), "1025")
	checkFailure(t, run(t, "get", "-p", path, ""), "empty key")

	// No region there: say how to make one.
	missing := filepath.Join(dir, "missing.region")
	checkFailure(t, run(t, "get", "-p", missing, "k"), "no region at "+missing, "daxkv init")
	checkFailure(t, run(t, "put", "-p", missing, "k", "v"), "no region at")
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("put created %s", missing)
	}
	// Not a region.
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	checkFailure(t, run(t, "get", "-p", junk, "k"), junk)
	// Errors carry one "daxkv:" prefix, not the store's as well.
	if r := run(t, "get", "-p", path, ""); strings.Count(r.stderr, "daxkv:") != 1 {
		t.Errorf("stderr %q repeats the prefix", r.stderr)
	}
}

// TestLocked checks every command's message when another opener holds
// the region (here this process, through the library).
func TestLocked(t *testing.T) {
	isolate(t)
	path := newRegion(t)
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, args := range [][]string{
		{"get", "k"}, {"put", "k", "v"}, {"del", "k"}, {"scan"}, {"load", "--generate", "1"},
		{"verify", "--generate", "1"}, {"stats"}, {"check"},
	} {
		r := run(t, append(args, "-p", path)...)
		checkFailure(t, r, "region "+path+" is in use", "held by this process", "one opener at a time")
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          "plain",
		"tab\there":      `tab\there`,
		"a\nb\rc":        `a\nb\rc`,
		`back\slash`:     `back\\slash`,
		"\x00\x1f\x7f":   `\x00\x1f\x7f`,
		"héllo wörld ✓":  "héllo wörld ✓",
		"bad\xffutf8":    `bad\xffutf8`,
		"zero\u200bwide": `zero\xe2\x80\x8bwide`,
	} {
		if got := escape([]byte(in)); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(20))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		e := escape(b)
		if strings.ContainsAny(e, "\t\n\r") {
			t.Fatalf("escape(%q) = %q holds a tab or line break", b, e)
		}
		got, err := unescape([]byte(e))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("unescape(escape(%q)) = %q, %v", b, got, err)
		}
	}
	for _, bad := range []string{`a\`, `\q`, `\x`, `\x4`, `\xzz`} {
		if got, err := unescape([]byte(bad)); err == nil {
			t.Errorf("unescape(%q) = %q, want an error", bad, got)
		}
	}
}

// loadPairs puts key/value pairs into the region at path with load.
func loadPairs(t *testing.T, path string, kv ...string) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		fmt.Fprintf(&b, "%s\t%s\n", escape([]byte(kv[i])), escape([]byte(kv[i+1])))
	}
	withStdin(t, b.String())
	ok(t, "load", "-p", path, "-")
}

func TestScan(t *testing.T) {
	isolate(t)
	path := newRegion(t)
	loadPairs(t, path, "a", "1", "b", "two\tcols", "c", "3", "d\x00", "\xffbin", "e", "")

	if got, want := ok(t, "scan", "-p", path).stdout, "a\t1\nb\ttwo\\tcols\nc\t3\nd\\x00\t\\xffbin\ne\t\n"; got != want {
		t.Errorf("scan =\n%q\nwant\n%q", got, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "b"}, "b c d\x00 e"},
		{[]string{"--to", "c"}, "a b"},
		{[]string{"--from", "b", "--to", "d"}, "b c"},
		{[]string{"--from", "bb", "--to", "zz"}, "c d\x00 e"},
		{[]string{"--limit", "2"}, "a b"},
		{[]string{"--from", "c", "--limit", "1"}, "c"},
		{[]string{"--limit", "0"}, "a b c d\x00 e"},
		{[]string{"--from", "x"}, ""},
	} {
		r := ok(t, append([]string{"scan", "-p", path, "--keys-only"}, c.args...)...)
		var keys []string
		for line := range strings.Lines(r.stdout) {
			k, err := unescape([]byte(strings.TrimSuffix(line, "\n")))
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, string(k))
		}
		if got := strings.Join(keys, " "); got != c.want {
			t.Errorf("scan --keys-only %q = %q, want %q", c.args, got, c.want)
		}
	}

	// JSON Lines, one object per key.
	r := ok(t, "scan", "-p", path, "--json", "--from", "b", "--to", "e")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("scan --json printed %d lines:\n%s", len(lines), r.stdout)
	}
	for i, want := range []string{
		`{"key":"b","key_encoding":"string","value":"two\tcols","value_encoding":"string","len":8}`,
		`{"key":"c","key_encoding":"string","value":"3","value_encoding":"string","len":1}`,
		`{"key":"d\u0000","key_encoding":"string","value":"/2Jpbg==","value_encoding":"base64","len":4}`,
	} {
		if lines[i] != want {
			t.Errorf("json line %d = %s, want %s", i, lines[i], want)
		}
	}
	r = ok(t, "scan", "-p", path, "--json", "--keys-only", "--limit", "1")
	if r.stdout != `{"key":"a","key_encoding":"string","len":1}`+"\n" {
		t.Errorf("scan --json --keys-only = %q", r.stdout)
	}

	// scan's output is load's input: copy the store and compare.
	dump := ok(t, "scan", "-p", path).stdout
	other := filepath.Join(filepath.Dir(path), "copy.region")
	ok(t, "init", "-p", other, "--size", "16MiB")
	withStdin(t, dump)
	ok(t, "load", "-p", other)
	if got := ok(t, "scan", "-p", other).stdout; got != dump {
		t.Errorf("copy scans as\n%q\nwant\n%q", got, dump)
	}
}

func TestScanFlagValidation(t *testing.T) {
	isolate(t)
	path := newRegion(t)
	checkUsage(t, run(t, "scan", "-p", path, "--from", "b", "--to", "a"), "--from b must sort before --to a")
	checkUsage(t, run(t, "scan", "-p", path, "--from", "b", "--to", "b"), "must sort before")
	checkUsage(t, run(t, "scan", "-p", path, "--limit", "-1"), "--limit -1", "at least 0")
	checkUsage(t, run(t, "scan", "-p", path, "--limit", "ten"), "--limit ten", "not a whole number")
	checkUsage(t, run(t, "scan", "-p", path, "extra"))
	checkUsage(t, run(t, "scan", "-p", path, "--keys-only=maybe"))
	t.Setenv("DAXKV_LIMIT", "x")
	checkUsage(t, run(t, "scan", "-p", path), "DAXKV_LIMIT=x")
}

func TestLoadFile(t *testing.T) {
	isolate(t)
	path := newRegion(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.tsv")
	// Escapes, a blank line, a CRLF line and a value holding a tab.
	body := "k1\tv1\n\nk\\t2\tv\\n2\r\nk3\ta\tb\nk4\t\\\\\n"
	if err := os.WriteFile(in, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	acks := filepath.Join(dir, "acks")
	r := ok(t, "load", "-p", path, in, "--batch", "3", "--ack-file", acks, "--json")
	rep := decode[loadReport](t, r)
	if rep.Keys != 4 || rep.Batches != 2 || rep.LastIndex != 3 || rep.ElapsedNs <= 0 {
		t.Errorf("load report %+v", rep)
	}
	if got, _ := os.ReadFile(acks); string(got) != "2\n3\n" {
		t.Errorf("ack file = %q, want record indexes 2 and 3", got)
	}
	for k, want := range map[string]string{"k1": "v1", "k\t2": "v\n2", "k3": "a\tb", "k4": `\`} {
		if got := ok(t, "get", "-p", path, k).stdout; got != want {
			t.Errorf("%q = %q, want %q", k, got, want)
		}
	}

	// --raw takes bytes as they are.
	if err := os.WriteFile(in, []byte("raw\\key\tva\\lue\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = ok(t, "load", "-p", path, in, "--raw")
	if !strings.HasPrefix(r.stdout, "loaded 1 key ") || !strings.Contains(r.stdout, "ops/s") {
		t.Errorf("load text = %q", r.stdout)
	}
	if got := ok(t, "get", "-p", path, `raw\key`).stdout; got != "va\\lue\r" {
		t.Errorf("raw value = %q", got)
	}

	// A bad line stops the load; earlier batches stay committed.
	if err := os.WriteFile(in, []byte("g1\t1\ng2\t2\ng3\t3\nno tab here\ng5\t5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, "load", "-p", path, in, "--batch", "2")
	if r.code != ExitError || !strings.Contains(r.stderr, "line 4: no tab") || !strings.Contains(r.stderr, "the 2 keys before its batch were committed") {
		t.Errorf("bad line: exit %d, stderr %q", r.code, r.stderr)
	}
	ok(t, "get", "-p", path, "g2")
	checkFailure(t, run(t, "get", "-p", path, "g3"), "not found")

	for _, c := range []struct{ body, want string }{
		{"\tvalue\n", "line 1: invalid argument: empty key"},
		{"k\tbad \\q escape\n", `line 1: value: unknown escape \q`},
		{"k\\\tv\n", "line 1: key: lone"},
	} {
		withStdin(t, c.body)
		r := run(t, "load", "-p", path)
		if r.code != ExitError || !strings.Contains(r.stderr, c.want) {
			t.Errorf("load %q: exit %d, stderr %q; want %q", c.body, r.code, r.stderr, c.want)
		}
	}
	checkFailure(t, run(t, "load", "-p", path, filepath.Join(dir, "missing")), "no such file")
	checkUsage(t, run(t, "load", "-p", path, in, "--generate", "5"), "not both")
	checkUsage(t, run(t, "load", "-p", path, in, "--seed", "5"), "--seed applies to --generate only")
	checkUsage(t, run(t, "load", "-p", path, "--generate", "5", "--raw"), "--raw")
	checkUsage(t, run(t, "load", "-p", path, "--generate", "5", "--batch", "0"), "--batch 0")
	checkUsage(t, run(t, "load", "-p", path, "--generate", "-5"), "--generate -5")
	checkUsage(t, run(t, "load", "-p", path, "--generate", "5", "--start", "999999999999"), "12 digits")
	checkUsage(t, run(t, "load", "-p", path, "a", "b"))
}

func TestLoadGenerateVerify(t *testing.T) {
	isolate(t)
	path := newRegion(t)
	acks := filepath.Join(t.TempDir(), "acks")
	r := ok(t, "load", "-p", path, "--generate", "2500", "--start", "100", "--seed", "7", "--value-size", "300", "--ack-file", acks, "--json")
	rep := decode[loadReport](t, r)
	if rep.Keys != 2500 || rep.Batches != 3 || rep.LastIndex != 2599 || rep.Bytes != 2500*(15+300) || rep.OpsPerSec <= 0 {
		t.Errorf("load report %+v", rep)
	}
	if got, _ := os.ReadFile(acks); string(got) != "1099\n2099\n2599\n" {
		t.Errorf("ack file = %q", got)
	}

	// Keys are key%012d, values printable and deterministic.
	v1 := ok(t, "get", "-p", path, "key000000000100").stdout
	if len(v1) != 300 || strings.Trim(v1, valueAlphabet) != "" {
		t.Errorf("generated value %q: want 300 printable bytes", v1)
	}
	var want [300]byte
	generator{seed: 7, valueSize: 300}.value(want[:], 100)
	if v1 != string(want[:]) {
		t.Errorf("generated value is not generator.value(100)")
	}
	checkFailure(t, run(t, "get", "-p", path, "key000000000099"), "not found")

	r = ok(t, "verify", "-p", path, "--generate", "2500", "--start", "100", "--seed", "7", "--value-size", "300")
	if !strings.Contains(r.stdout, "verified 2,500 keys, key000000000100 .. key000000002599: all present") {
		t.Errorf("verify text = %q", r.stdout)
	}
	r = ok(t, "verify", "-p", path, "--ack-file", acks, "--start", "100", "--seed", "7", "--value-size", "300", "--json")
	if v := decode[verifyReport](t, r); v.Keys != 2500 || v.OK != 2500 || v.Missing != 0 || v.Wrong != 0 || v.AckFile != acks {
		t.Errorf("verify --ack-file = %+v", v)
	}

	// A torn last line (a process killed mid-write) is ignored.
	if err := os.WriteFile(acks, []byte("1099\n20"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = ok(t, "verify", "-p", path, "--ack-file", acks, "--start", "100", "--seed", "7", "--value-size", "300", "--json")
	if v := decode[verifyReport](t, r); v.Keys != 1000 || v.Last != "key000000001099" {
		t.Errorf("verify with a torn ack = %+v", v)
	}
	if err := os.WriteFile(acks, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := ok(t, "verify", "-p", path, "--ack-file", acks, "--start", "100"); !strings.Contains(r.stdout, "nothing to verify") {
		t.Errorf("verify with an empty ack file = %q", r.stdout)
	}

	// Wrong seed: every value differs. A deleted and an overwritten key
	// are reported by name.
	r = run(t, "verify", "-p", path, "--generate", "10", "--start", "100", "--seed", "8", "--value-size", "300", "--json")
	if v := decode[verifyReport](t, r); r.code != ExitError || v.Wrong != 10 || v.OK != 0 || len(v.WrongKeys) != 10 {
		t.Errorf("verify with the wrong seed: exit %d, %+v", r.code, v)
	}
	ok(t, "del", "-p", path, "key000000000200")
	ok(t, "put", "-p", path, "key000000000300", "changed")
	ok(t, "put", "-p", path, "key000000000250x", "not generated") // inside the range, ignored
	r = run(t, "verify", "-p", path, "--generate", "2600", "--seed", "7", "--value-size", "300")
	if r.code != ExitError || !strings.Contains(r.stderr, "verify failed: 101 of 2,600 keys missing, 1 wrong") ||
		!strings.Contains(r.stdout, "key000000000000") || !strings.Contains(r.stdout, "key000000000300") {
		t.Errorf("verify with damage: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "verify", "-p", path, "--generate", "2600", "--seed", "7", "--value-size", "300", "--json")
	v := decode[verifyReport](t, r)
	if v.Missing != 101 || v.Wrong != 1 || v.OK != 2498 || len(v.MissingKeys) != maxListed ||
		v.WrongKeys[0] != "key000000000300" {
		t.Errorf("verify --json with damage: %+v", v)
	}

	checkUsage(t, run(t, "verify", "-p", path), "--generate N or --ack-file")
	checkUsage(t, run(t, "verify", "-p", path, "--generate", "1", "--ack-file", acks), "not both")
	checkUsage(t, run(t, "verify", "-p", path, "--generate", "1", "--value-size", "1TiB"), "64 MiB")
	checkFailure(t, run(t, "verify", "-p", path, "--ack-file", filepath.Join(t.TempDir(), "none")), "ack file")
}

func TestLoadProgress(t *testing.T) {
	isolate(t)
	path := newRegion(t)
	old := isTerminal
	t.Cleanup(func() { isTerminal = old })
	isTerminal = func(any) bool { return true }

	r := ok(t, "load", "-p", path, "--generate", "3000", "--batch", "100")
	if !strings.Contains(r.stderr, "loading") || !strings.Contains(r.stderr, "3000/3000") || !strings.Contains(r.stderr, "keys/s") {
		t.Errorf("progress bar on stderr = %q", r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "loaded 3,000 keys") {
		t.Errorf("stdout = %q", r.stdout)
	}
	if r := ok(t, "load", "-p", path, "--generate", "300", "--no-progress"); r.stderr != "" {
		t.Errorf("--no-progress printed %q", r.stderr)
	}
	// On a terminal, get ends a value with a newline for people.
	ok(t, "put", "-p", path, "k", "v")
	if got := ok(t, "get", "-p", path, "k").stdout; got != "v\n" {
		t.Errorf("get on a terminal = %q, want a newline added", got)
	}
}

func TestStats(t *testing.T) {
	isolate(t)
	path := newRegion(t)
	ok(t, "load", "-p", path, "--generate", "2000", "--value-size", "500")

	r := ok(t, "stats", "-p", path, "--json")
	s := decode[map[string]any](t, r)
	for _, k := range []string{"path", "mode", "flush", "size", "used", "free", "quarantined", "wal_size", "wal_used",
		"extents", "generation", "memtable_keys", "memtable_bytes", "checkpoints", "last_checkpoint_ns",
		"open_took_ns", "clean_open", "recovered_ops", "read_only", "broken", "huge_mapped"} {
		if _, ok := s[k]; !ok {
			t.Errorf("stats --json lacks %q", k)
		}
	}
	st := decode[statsReport](t, r)
	if st.Path != path || st.Size != 32<<20 || st.Used <= 0 || st.Free <= 0 || !st.CleanOpen || !st.ReadOnly || st.Extents < 2000 {
		t.Errorf("stats %+v", st)
	}
	r = ok(t, "stats", "-p", path)
	for _, want := range []string{"Region " + path, "32.0 MiB", "WAL", "memtable keys", "last close", "clean", "huge pages"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stats text lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestCheck runs check on a store after a clean close (the kill -9 test
// covers the store after a crash).
func TestCheck(t *testing.T) {
	isolate(t)
	path := newRegion(t)
	ok(t, "load", "-p", path, "--generate", "2000", "--value-size", "500")

	r := run(t, "check", "-p", path, "--json")
	c := decode[checkReport](t, r)
	if r.code != ExitOK || !c.OK || len(c.Problems) != 0 {
		// A read-only open after a clean close keeps the allocator image's
		// extent allocated (db.slot.AllocOff); store.Check must count it.
		t.Fatalf("check of a cleanly closed store: exit %d, problems %q", r.code, c.Problems)
	}
	if c.Values != 2000 || c.Nodes == 0 || c.Extents < 2000 || c.Bytes <= 0 || c.Refs != 1 {
		t.Errorf("check %+v", c)
	}
	if r := ok(t, "check", "-p", path); !strings.Contains(r.stdout, "consistent") || !strings.Contains(r.stdout, "2,000") {
		t.Errorf("check text:\n%s", r.stdout)
	}
}

func TestCheckReportText(t *testing.T) {
	var b bytes.Buffer
	rep := checkReport{Path: "/r", Nodes: 3, Problems: []string{"extent 0x1000 leaked", "bad checksum"}}
	if err := rep.writeText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"INCONSISTENT: 2 problems", "problem: extent 0x1000 leaked", "problem: bad checksum"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("check text lacks %q:\n%s", want, b.String())
		}
	}
}

func TestRoundSig(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{14.96123, 14.96}, {0.00041234, 0.0004123}, {1234.5, 1235}, {0, 0}, {9.99999, 10},
	} {
		if got := roundSig(c.in, 4); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("roundSig(%v, 4) = %v, want %v", c.in, got, c.want)
		}
	}
	if got := fmtRate(0.0004123); got != "412 KB/s" {
		t.Errorf("fmtRate(0.0004123) = %q", got)
	}
}
