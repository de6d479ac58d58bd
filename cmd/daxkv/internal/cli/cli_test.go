package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/flush"
)

// result is one in-process run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

// run executes args the way main does, in-process.
func run(t *testing.T, args ...string) result {
	t.Helper()
	return runApp(t, newApp, args...)
}

func runApp(t *testing.T, mk func(stdout, stderr io.Writer) *app, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := mk(&out, &errb).run(context.Background(), args)
	return result{code, out.String(), errb.String()}
}

// isolate clears every setting source the machine might carry, so tests see
// only what they set: DAXKV_* variables, the config search path and cwd.
// Measurements are shortened; their accuracy is not under test.
func isolate(t *testing.T) string {
	t.Helper()
	for _, k := range []string{"DAXKV_PATH", "DAXKV_JSON", "DAXKV_FLUSH", "DAXKV_CONFIG", "DAXKV_BRANCH", "DAXKV_SNAPSHOT", "DAXKV_FROM"} {
		t.Setenv(k, "")
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	t.Chdir(dir)

	rounds, rt, size := measureRounds, roundTime, scratchSize
	measureRounds, roundTime, scratchSize = 3, 2*time.Millisecond, 1<<20
	t.Cleanup(func() { measureRounds, roundTime, scratchSize = rounds, rt, size })
	return dir
}

func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout)
	}
	return v
}

func TestVersionJSON(t *testing.T) {
	isolate(t)
	r := run(t, "version", "--json")
	if r.code != ExitOK || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	v := decode[map[string]any](t, r)
	for _, k := range []string{"version", "revision", "time", "modified", "go", "os", "arch"} {
		if _, ok := v[k]; !ok {
			t.Errorf("version --json lacks %q: %s", k, r.stdout)
		}
	}
	if v["go"] != runtime.Version() || v["os"] != runtime.GOOS || v["arch"] != runtime.GOARCH {
		t.Errorf("go/os/arch = %v/%v/%v, want %s/%s/%s", v["go"], v["os"], v["arch"], runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	if s, _ := v["version"].(string); s == "" {
		t.Errorf("empty version")
	}
}

func TestVersionText(t *testing.T) {
	isolate(t)
	r := run(t, "version")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "daxkv ") || !strings.Contains(r.stdout, runtime.Version()) {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// doctorJSON mirrors the documented JSON field names (decoded separately
// from doctorReport, so renaming a field breaks this test).
type doctorJSON struct {
	CPU struct {
		Arch       string `json:"arch"`
		CLWB       bool   `json:"clwb"`
		CLFLUSHOPT bool   `json:"clflushopt"`
		CLFLUSH    bool   `json:"clflush"`
		NTStores   bool   `json:"nt_stores"`
		AVX2       bool   `json:"avx2"`
		AVX512F    bool   `json:"avx512f"`
		EADR       bool   `json:"eadr"`
	} `json:"cpu"`
	Flush struct {
		Requested string `json:"requested"`
		Source    string `json:"source"`
		Mode      string `json:"mode"`
		Reason    string `json:"reason"`
	} `json:"flush"`
	Region *struct {
		Path       string `json:"path"`
		Kind       string `json:"kind"`
		FSType     string `json:"fs_type"`
		MapSync    bool   `json:"map_sync"`
		MapSyncErr string `json:"map_sync_err"`
		Mode       string `json:"mode"`
		Reason     string `json:"reason"`
		FlushMode  string `json:"flush_mode"`
	} `json:"region"`
	Measure struct {
		Medium      string   `json:"medium"`
		Dir         string   `json:"dir"`
		Note        string   `json:"note"`
		Mode        string   `json:"mode"`
		Rounds      int      `json:"rounds"`
		Skipped     string   `json:"skipped"`
		FlushLineNs *float64 `json:"flush_line_ns"`
		Copy4KGBps  *float64 `json:"copy_4k_gbps"`
		Copy64KGBps *float64 `json:"copy_64k_gbps"`
	} `json:"measure"`
}

// regionFile makes a 1 MiB file in dir and returns its path.
func regionFile(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "daxkv-test-*.region")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// fsType is the filesystem dir lives on, as the region package names it
// ("" when it cannot tell).
func fsType(t *testing.T, dir string) string {
	t.Helper()
	path := regionFile(t, dir)
	r := run(t, "doctor", "--json", "--path", path)
	if r.code != ExitOK {
		return ""
	}
	d := decode[doctorJSON](t, r)
	return d.Region.FSType
}

// checkDoctor asserts what every successful doctor --json must hold.
func checkDoctor(t *testing.T, d doctorJSON) {
	t.Helper()
	f := flush.Detect()
	if d.CPU.Arch != runtime.GOARCH || d.CPU.CLWB != f.CLWB || d.CPU.CLFLUSHOPT != f.CLFLUSHOPT ||
		d.CPU.CLFLUSH != f.CLFLUSH || d.CPU.NTStores != f.SSE2 || d.CPU.AVX512F != f.AVX512F || d.CPU.EADR != f.EADR {
		t.Errorf("cpu = %+v, flush.Detect = %+v", d.CPU, f)
	}
	want, err := flush.Resolve(flush.Auto)
	if err != nil {
		t.Fatal(err)
	}
	if d.Flush.Requested != "auto" || d.Flush.Mode != want.String() || d.Flush.Reason == "" {
		t.Errorf("flush = %+v, want auto resolving to %s with a reason", d.Flush, want)
	}
	m := d.Measure
	if m.Rounds != measureRounds {
		t.Errorf("rounds = %d, want %d", m.Rounds, measureRounds)
	}
	for name, v := range map[string]*float64{"flush_line_ns": m.FlushLineNs, "copy_4k_gbps": m.Copy4KGBps, "copy_64k_gbps": m.Copy64KGBps} {
		switch {
		case m.Skipped != "" && v != nil:
			t.Errorf("measure.%s = %v although the measurement was skipped (%s)", name, *v, m.Skipped)
		case m.Skipped == "" && (v == nil || *v <= 0):
			t.Errorf("measure.%s = %v, want a positive figure", name, v)
		}
	}
}

// noScratchLeft fails if doctor left its scratch file in dir.
func noScratchLeft(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, ".daxkv-doctor-*"))
	if len(left) > 0 {
		t.Errorf("scratch files left behind: %v", left)
	}
}

func TestDoctorEmulated(t *testing.T) {
	isolate(t)
	if _, err := os.Stat("/dev/shm"); err != nil {
		t.Skip("no /dev/shm")
	}
	dir, err := os.MkdirTemp("/dev/shm", "daxkv-cli-test-")
	if err != nil {
		t.Skip("/dev/shm not writable:", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if fs := fsType(t, dir); fs != "tmpfs" {
		t.Skipf("/dev/shm is %q, not tmpfs", fs)
	}
	path := regionFile(t, dir)

	r := run(t, "doctor", "--json", "--path", path)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	d := decode[doctorJSON](t, r)
	checkDoctor(t, d)
	if f := flush.Detect(); f.CLWB && !d.CPU.CLWB {
		t.Errorf("CPU has CLWB, doctor says it does not")
	}
	if d.Region == nil || d.Region.Path != path || d.Region.Mode != "emulated" || d.Region.FSType != "tmpfs" || d.Region.Reason == "" {
		t.Fatalf("region = %+v, want emulated tmpfs %s with a reason", d.Region, path)
	}
	if d.Region.FlushMode != d.Flush.Mode || d.Measure.Mode != d.Flush.Mode {
		t.Errorf("emulated region flushes with %s, measured %s; want the CPU mode %s", d.Region.FlushMode, d.Measure.Mode, d.Flush.Mode)
	}
	if d.Measure.Medium != "file" || d.Measure.Dir != dir {
		t.Errorf("measured on %s in %q, want a scratch file in %s", d.Measure.Medium, d.Measure.Dir, dir)
	}
	noScratchLeft(t, dir)

	// The same report for people: a table naming the mode and the figures.
	r = run(t, "doctor", "--path", path)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"CPU", "eADR", "Flush", "Region " + path, "emulated", "tmpfs", "flush+fence 64 B", "GB/s"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("doctor text lacks %q:\n%s", want, r.stdout)
		}
	}
	noScratchLeft(t, dir)
}

func TestDoctorPageCache(t *testing.T) {
	isolate(t)
	dir := t.TempDir() // under os.TempDir()
	switch fs := fsType(t, dir); fs {
	case "tmpfs", "":
		t.Skipf("%s is on %q; this test needs a disk filesystem", dir, fs)
	}
	path := regionFile(t, dir)

	r := run(t, "doctor", "--json", "--path", path)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	d := decode[doctorJSON](t, r)
	checkDoctor(t, d)
	if d.Region == nil || d.Region.Mode != "pagecache" || d.Region.MapSync || d.Region.MapSyncErr == "" {
		t.Fatalf("region = %+v, want pagecache with the MAP_SYNC refusal", d.Region)
	}
	if d.Region.FlushMode != "msync" || d.Measure.Mode != "msync" || d.Measure.Medium != "file" {
		t.Errorf("page-cache region flushes with %q, measured %q on %q; want msync on a file", d.Region.FlushMode, d.Measure.Mode, d.Measure.Medium)
	}
	noScratchLeft(t, dir)
}

func TestDoctorWithoutPath(t *testing.T) {
	isolate(t)
	r := run(t, "doctor", "--json")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	d := decode[doctorJSON](t, r)
	checkDoctor(t, d)
	if d.Region != nil || d.Measure.Medium != "anonymous" || d.Measure.Mode != d.Flush.Mode {
		t.Errorf("region = %+v, measure = %+v; want no region and %s on anonymous memory", d.Region, d.Measure, d.Flush.Mode)
	}
}

// checkFailure asserts a runtime error: exit 1, nothing on stdout, one line
// on stderr containing every want, and no usage dump.
func checkFailure(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.code != ExitError {
		t.Errorf("exit %d, want %d (stderr %q)", r.code, ExitError, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "daxkv: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one line starting with daxkv:", r.stderr)
	}
	if strings.Contains(r.stderr, "Usage:") {
		t.Errorf("runtime error printed the usage: %q", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q lacks %q", r.stderr, w)
		}
	}
}

func TestDoctorBadPath(t *testing.T) {
	dir := isolate(t)
	missing := filepath.Join(dir, "no-such-region")
	checkFailure(t, run(t, "doctor", "--path", missing), missing, "no such file")
	checkFailure(t, run(t, "doctor", "--path", dir), dir, "directory")

	if os.Geteuid() == 0 {
		t.Log("running as root: permission checks do not apply, skipping the unreadable-file case")
		return
	}
	locked := regionFile(t, dir)
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	checkFailure(t, run(t, "doctor", "--path", locked), locked, "permission denied")
}

// TestScratchFallback checks that doctor measures anonymous memory, and
// says why, when it cannot put a scratch file next to the region.
func TestScratchFallback(t *testing.T) {
	isolate(t)
	var rep measureReport
	_, _, cleanup := scratchMemory(filepath.Join(t.TempDir(), "gone", "region"), &rep)
	cleanup()
	if rep.Medium != "anonymous" || !strings.Contains(rep.Note, "cannot create a scratch file") {
		t.Errorf("medium %q, note %q; want anonymous with the reason", rep.Medium, rep.Note)
	}

	if os.Geteuid() == 0 {
		t.Log("running as root: a read-only directory does not stop root, skipping that case")
		return
	}
	dir := t.TempDir()
	path := regionFile(t, dir)
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	r := run(t, "doctor", "--json", "--path", path)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	d := decode[doctorJSON](t, r)
	if d.Measure.Medium != "anonymous" || !strings.Contains(d.Measure.Note, "permission denied") {
		t.Errorf("measure = %+v; want anonymous memory, noting the permission error", d.Measure)
	}
	// msync (a page-cache region) cannot be timed without a file: skipped,
	// and said so. Any other mode is measured on the anonymous memory.
	if (d.Measure.Mode == "msync") != (d.Measure.Skipped != "") {
		t.Errorf("measure mode %s, skipped %q", d.Measure.Mode, d.Measure.Skipped)
	}
	checkDoctor(t, d)
}

func TestDoctorBogusFlushMode(t *testing.T) {
	isolate(t)
	t.Setenv("DAXKV_FLUSH", "bogus")
	r := run(t, "doctor")
	checkFailure(t, r, append([]string{"DAXKV_FLUSH=bogus"}, flush.Modes()...)...)

	// The flag names itself when it is the culprit.
	t.Setenv("DAXKV_FLUSH", "")
	checkFailure(t, run(t, "doctor", "--flush", "nope"), "--flush nope", "clwb")

	// And so does the config file.
	if err := os.WriteFile("daxkv.yaml", []byte("flush: wrong\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkFailure(t, run(t, "doctor"), "flush: wrong in daxkv.yaml", "clwb")
}

func TestUsageErrors(t *testing.T) {
	isolate(t)
	for _, args := range [][]string{
		{"doctor", "--no-such-flag"},
		{"doctor", "extra-arg"},
		{"no-such-command"},
		{"version", "--json=maybe"},
	} {
		r := run(t, args...)
		if r.code != ExitUsage || !strings.HasPrefix(r.stderr, "daxkv: ") || !strings.Contains(r.stderr, "Usage:") {
			t.Errorf("%q: exit %d, stderr %q; want %d with the usage", args, r.code, r.stderr, ExitUsage)
		}
	}
}

func TestHelpWithBrokenConfig(t *testing.T) {
	dir := isolate(t)
	if err := os.WriteFile(filepath.Join(dir, "daxkv.yaml"), []byte("path: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "help"); r.code != ExitOK || !strings.Contains(r.stdout, "doctor") {
		t.Errorf("help: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	checkFailure(t, run(t, "version"), "daxkv.yaml")
}

// settingsApp adds a command that prints the merged settings, so the
// precedence tests exercise the real loading path without measuring.
func settingsApp(stdout, stderr io.Writer) *app {
	a := newApp(stdout, stderr)
	a.root.AddCommand(&cobra.Command{
		Use:  "settings",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return a.emit(map[string]string{
				"path": a.v.GetString("path"), "path_source": a.source("path"),
				"flush": a.v.GetString("flush"), "flush_source": a.source("flush"),
			}, nil)
		},
	})
	a.root.AddCommand(&cobra.Command{
		Use:  "needs-path",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			p, err := a.regionPath()
			if err != nil {
				return err
			}
			return a.emit(map[string]string{"path": p}, nil)
		},
	})
	return a
}

// TestRegionPathRequired checks the message a command that needs a region
// gives when no source names one.
func TestRegionPathRequired(t *testing.T) {
	isolate(t)
	checkFailure(t, runApp(t, settingsApp, "needs-path"), "--path", "DAXKV_PATH", "daxkv.yaml")
	t.Setenv("DAXKV_PATH", "/from/env")
	if r := runApp(t, settingsApp, "needs-path", "--json"); r.code != ExitOK || !strings.Contains(r.stdout, "/from/env") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// No shell expands ~ in the environment or the config file; we do.
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DAXKV_PATH", "~/kv.region")
	r := runApp(t, settingsApp, "needs-path", "--json")
	if got := decode[map[string]string](t, r)["path"]; got != filepath.Join(home, "kv.region") {
		t.Errorf("~/kv.region became %q, want it under %s", got, home)
	}
}

func TestPrecedence(t *testing.T) {
	dir := isolate(t)
	write := func(name, body string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	settings := func(args ...string) map[string]string {
		t.Helper()
		r := runApp(t, settingsApp, append([]string{"settings", "--json"}, args...)...)
		if r.code != ExitOK {
			t.Fatalf("%q: exit %d: %s", args, r.code, r.stderr)
		}
		return decode[map[string]string](t, r)
	}
	expect := func(got map[string]string, key, value, source string) {
		t.Helper()
		if got[key] != value || got[key+"_source"] != source {
			t.Errorf("%s = %q from %q, want %q from %q", key, got[key], got[key+"_source"], value, source)
		}
	}

	expect(settings(), "path", "", "default")
	expect(settings(), "flush", "auto", "default")

	xdg := os.Getenv("XDG_CONFIG_HOME")
	xdgFile := write(filepath.Join(xdg, "daxkv", "daxkv.yaml"), "path: /from/xdg\nflush: clflush\n")
	expect(settings(), "path", "/from/xdg", xdgFile)
	expect(settings(), "flush", "clflush", xdgFile)

	// The current directory's file wins over the XDG one.
	write(filepath.Join(dir, "daxkv.yaml"), "path: /from/cwd\n")
	got := settings()
	expect(got, "path", "/from/cwd", "daxkv.yaml")
	expect(got, "flush", "auto", "default") // files are not merged: the first one found is the config

	// --config and DAXKV_CONFIG replace the search.
	explicit := write(filepath.Join(t.TempDir(), "other.yml"), "path: /from/explicit\n")
	expect(settings("--config", explicit), "path", "/from/explicit", explicit)
	t.Setenv("DAXKV_CONFIG", explicit)
	expect(settings(), "path", "/from/explicit", explicit)
	t.Setenv("DAXKV_CONFIG", "")

	// Environment beats the file, a flag beats both.
	t.Setenv("DAXKV_PATH", "/from/env")
	t.Setenv("DAXKV_FLUSH", "clflushopt")
	got = settings()
	expect(got, "path", "/from/env", "DAXKV_PATH")
	expect(got, "flush", "clflushopt", "DAXKV_FLUSH")
	got = settings("--path", "/from/flag", "--flush", "clwb")
	expect(got, "path", "/from/flag", "--path")
	expect(got, "flush", "clwb", "--flush")
	expect(settings("-p", "/from/short"), "path", "/from/short", "--path")
}

func TestConfigErrors(t *testing.T) {
	dir := isolate(t)
	missing := filepath.Join(dir, "missing.yaml")
	checkFailure(t, run(t, "version", "--config", missing), missing)

	if err := os.WriteFile(filepath.Join(dir, "daxkv.yaml"), []byte("pth: /typo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkFailure(t, run(t, "version"), "daxkv.yaml", `unknown key "pth"`)
}

// TestDoctorPathFromConfig runs doctor end to end with the region path
// coming only from daxkv.yaml, and a flag overriding it.
func TestDoctorPathFromConfig(t *testing.T) {
	dir := isolate(t)
	fromFile := regionFile(t, t.TempDir())
	if err := os.WriteFile(filepath.Join(dir, "daxkv.yaml"), []byte("path: "+fromFile+"\njson: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "doctor")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if d := decode[doctorJSON](t, r); d.Region == nil || d.Region.Path != fromFile {
		t.Errorf("region = %+v, want %s from daxkv.yaml", d.Region, fromFile)
	}

	fromFlag := regionFile(t, t.TempDir())
	r = run(t, "doctor", "--path", fromFlag)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if d := decode[doctorJSON](t, r); d.Region == nil || d.Region.Path != fromFlag {
		t.Errorf("region = %+v, want %s from --path", d.Region, fromFlag)
	}

	// json: true in the file is overridden by --json=false.
	r = run(t, "doctor", "--json=false")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "CPU") {
		t.Errorf("--json=false: exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestNoSubcommandHooks guards setup: a subcommand's own
// PersistentPreRun(E) would replace the root's, leaving settings unloaded.
func TestNoSubcommandHooks(t *testing.T) {
	root := NewRootCommand(io.Discard, io.Discard)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.PersistentPreRun != nil || sub.PersistentPreRunE != nil {
				t.Errorf("%s defines a PersistentPreRun hook; load settings in root's setup instead", sub.CommandPath())
			}
			walk(sub)
		}
	}
	walk(root)
}

func TestWriteSectionsAligns(t *testing.T) {
	a := section{title: "A"}
	a.add("k", "1")
	b := section{title: "B"}
	b.add("longer key", "2")
	var buf bytes.Buffer
	if err := writeSections(&buf, a, b); err != nil {
		t.Fatal(err)
	}
	want := "A\n  k           1\n\nB\n  longer key  2\n"
	if buf.String() != want {
		t.Errorf("got\n%q\nwant\n%q", buf.String(), want)
	}
}
