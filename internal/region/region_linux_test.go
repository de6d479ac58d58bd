package region

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/daxkv/daxkv/internal/errs"
	"github.com/daxkv/daxkv/internal/tmpfstest"
)

// Child processes re-run this test binary with helperEnv set to an action
// and helperPath to the region; see runHelper.
const (
	helperEnv  = "DAXKV_REGION_TEST_HELPER"
	helperPath = "DAXKV_REGION_TEST_PATH"
)

func TestMain(m *testing.M) {
	if action := os.Getenv(helperEnv); action != "" {
		os.Exit(runHelper(action, os.Getenv(helperPath)))
	}
	os.Exit(m.Run())
}

// helperResult is what a child reports on stdout.
type helperResult struct {
	Err      string
	Locked   bool
	Perm     bool
	NotExist bool
}

func runHelper(action, path string) int {
	var err error
	switch action {
	case "open": // try to open, report, exit
		var r *Region
		if r, err = Open(path, Options{}); err == nil {
			r.Close()
		}
	case "probe":
		_, err = ProbePath(path)
	case "hold": // open, say so, keep it until stdin closes
		r, err := Open(path, Options{})
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		r.Close()
		return 0
	default:
		fmt.Fprintln(os.Stderr, "unknown helper action", action)
		return 2
	}
	res := helperResult{Locked: errors.Is(err, errs.Locked), Perm: errors.Is(err, fs.ErrPermission), NotExist: errors.Is(err, fs.ErrNotExist)}
	if err != nil {
		res.Err = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

func helperCmd(bin, action, path string) *exec.Cmd {
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+action, helperPath+"="+path)
	cmd.Stderr = os.Stderr
	return cmd
}

func runChild(t *testing.T, cmd *exec.Cmd) helperResult {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v (output %q)", err, out)
	}
	var res helperResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	return res
}

func ctimeOf(fi fs.FileInfo) time.Time {
	st := fi.Sys().(*syscall.Stat_t)
	return time.Unix(st.Ctim.Unix())
}

// tmpfsDir makes a directory on /dev/shm, removed when t ends; "" when
// /dev/shm is absent, not tmpfs or not writable.
func tmpfsDir(t *testing.T) string {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil || uint32(st.Type) != unix.TMPFS_MAGIC {
		return ""
	}
	dir, err := os.MkdirTemp("/dev/shm", "daxkv-region-test-")
	if err != nil {
		return ""
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// shmDir is tmpfsDir, or the test is skipped.
func shmDir(t *testing.T) string {
	t.Helper()
	dir := tmpfsDir(t)
	if dir == "" {
		t.Skip("/dev/shm is absent, not tmpfs or not writable")
	}
	return dir
}

func TestProbeTmpfs(t *testing.T) {
	path := filepath.Join(shmDir(t), "r")
	if err := os.WriteFile(path, make([]byte, Alignment), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := ProbePath(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", p)
	if p.Path != path || p.Kind != KindFile || p.FSType != "tmpfs" || p.FSMagic != 0x01021994 ||
		p.MapSync || p.MapSyncErr == "" || p.Mode != Emulated || p.Reason == "" {
		t.Fatalf("probe of a tmpfs file: %+v", p)
	}
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"path":`, `"kind":"file"`, `"fs_type":"tmpfs"`, `"fs_magic":16914836`, `"map_sync":false`, `"map_sync_err":`, `"mode":"emulated"`, `"reason":`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("JSON %s lacks %s", js, key)
		}
	}
}

func TestProbeTempDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	if err := os.WriteFile(path, make([]byte, Alignment), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := ProbePath(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", p)
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	if p.FSMagic != int64(uint32(st.Type)) || p.FSType != fsName(p.FSMagic) {
		t.Fatalf("FSMagic %#x FSType %q, statfs says %#x", p.FSMagic, p.FSType, st.Type)
	}
	want := PageCache
	switch {
	case p.MapSync:
		want = PMem
	case p.FSMagic == unix.TMPFS_MAGIC:
		want = Emulated
	}
	if p.Mode != want || p.MapSync == (p.MapSyncErr != "") {
		t.Fatalf("MapSync=%v MapSyncErr=%q Mode=%s, want Mode %s", p.MapSync, p.MapSyncErr, p.Mode, want)
	}
}

func TestCreateModes(t *testing.T) {
	dirs := map[string]string{"tempdir": t.TempDir()}
	if dir := tmpfsDir(t); dir != "" {
		dirs["shm"] = dir
	} else {
		t.Log("/dev/shm unavailable: tmpfs case skipped")
	}
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "r")
			const size = 256 * Alignment
			r := mustOpen(t, path, Options{Size: size})
			p, err := ProbePath(path)
			if err != nil {
				t.Fatal(err)
			}
			if r.Mode() != p.Mode || r.Probe != p {
				t.Fatalf("Open found %+v (mode %s), ProbePath %+v", r.Probe, r.Mode(), p)
			}
			if name == "shm" && r.Mode() != Emulated {
				t.Fatalf("tmpfs region in mode %s", r.Mode())
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("new region has mode %v, want 0600", fi.Mode().Perm())
			}
			// fallocate reserved the blocks: the file is not sparse.
			if blocks := fi.Sys().(*syscall.Stat_t).Blocks; blocks*512 < size {
				t.Errorf("new region has %d bytes allocated, want %d", blocks*512, size)
			}
			if r.PageSize() != os.Getpagesize() {
				t.Errorf("PageSize %d, want %d", r.PageSize(), os.Getpagesize())
			}
		})
	}
}

func TestForceMode(t *testing.T) {
	type want struct {
		force Mode
		ok    bool
	}
	check := func(t *testing.T, dir string, detected Mode, wants []want) {
		for _, w := range wants {
			path := filepath.Join(dir, "r")
			r, err := Open(path, Options{Size: Alignment, ForceMode: w.force})
			if w.ok {
				if err != nil {
					t.Fatalf("force %s: %v", w.force, err)
				}
				if r.Mode() != w.force || r.Probe.Mode != detected {
					t.Errorf("force %s: Mode %s, Probe.Mode %s", w.force, r.Mode(), r.Probe.Mode)
				}
				r.Close()
				os.Remove(path)
				continue
			}
			if !errors.Is(err, errs.Invalid) {
				t.Fatalf("force %s = %v, want errs.Invalid", w.force, err)
			}
			t.Logf("force %s: %v", w.force, err)
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("refused create left the file behind (%v)", err)
			}
		}
	}
	t.Run("tmpfs", func(t *testing.T) {
		check(t, shmDir(t), Emulated, []want{{PMem, true}, {Emulated, true}, {PageCache, true}})
	})
	t.Run("tempdir", func(t *testing.T) {
		dir := t.TempDir()
		p, err := probeDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if p.Mode != PageCache {
			t.Skipf("temp dir is %s (%s), not a page-cache filesystem", p.FSType, p.Mode)
		}
		check(t, dir, PageCache, []want{{PMem, false}, {Emulated, false}, {PageCache, true}})
	})
}

func probeDir(dir string) (Probe, error) {
	path := filepath.Join(dir, "probe")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return Probe{}, err
	}
	defer os.Remove(path)
	return ProbePath(path)
}

// A creation that fails half-way (fallocate refused) leaves no file.
func TestCreateNoSpaceRemovesFile(t *testing.T) {
	dirs := []string{t.TempDir()}
	if dir := tmpfsDir(t); dir != "" {
		dirs = append(dirs, dir)
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, "huge")
		_, err := Open(path, Options{Size: 1 << 50})
		if !errors.Is(err, errs.NoSpace) {
			t.Errorf("Open(1 PiB in %s) = %v, want errs.NoSpace", dir, err)
		}
		t.Log(err)
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("failed create left %s behind (%v)", path, err)
		}
	}
}

func TestProbeSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	paths := []string{fifo, sock, "/dev/null"}
	if blk := findBlockDevice(); blk != "" {
		paths = append(paths, blk)
	}
	for _, path := range paths {
		// Opening a FIFO would block: give it a deadline rather than hang.
		done := make(chan [2]error, 1)
		go func() {
			_, perr := ProbePath(path)
			_, oerr := Open(path, Options{})
			done <- [2]error{perr, oerr}
		}()
		select {
		case e := <-done:
			for i, err := range e {
				if !errors.Is(err, errs.Invalid) {
					t.Errorf("%s on %s = %v, want errs.Invalid", [2]string{"ProbePath", "Open"}[i], path, err)
				}
			}
			t.Log(e[0])
		case <-time.After(10 * time.Second):
			t.Fatalf("ProbePath/Open(%s) blocked", path)
		}
	}
}

func findBlockDevice() string {
	ents, _ := os.ReadDir("/dev")
	for _, e := range ents {
		if e.Type()&fs.ModeDevice != 0 && e.Type()&fs.ModeCharDevice == 0 {
			return filepath.Join("/dev", e.Name())
		}
	}
	return ""
}

func TestDevDaxSysfs(t *testing.T) {
	root := t.TempDir()
	old := sysDevChar
	sysDevChar = root
	defer func() { sysDevChar = old }()

	mk := func(majmin, subsystem, size, align string) {
		dir := filepath.Join(root, majmin)
		if err := os.MkdirAll(filepath.Join(dir, "device"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../../../../bus/"+subsystem, filepath.Join(dir, "subsystem")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "size"), []byte(size), 0o644); err != nil {
			t.Fatal(err)
		}
		if align != "" {
			if err := os.WriteFile(filepath.Join(dir, "device", "align"), []byte(align), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("250:0", "dax", "4297064448\n", "2097152\n") // 4 GiB + 2 MiB + 4 KiB
	mk("250:1", "dax", "1073741824\n", "")
	mk("250:2", "misc", "4096\n", "")
	mk("250:3", "dax", "1048576\n", "0x200000\n") // smaller than its alignment
	mk("250:4", "dax", "lots\n", "")

	ok := []struct {
		min         uint32
		size, align int64
	}{
		{0, 4<<30 + 2<<20, 2 << 20},
		{1, 1 << 30, int64(os.Getpagesize())},
	}
	for _, c := range ok {
		d, err := devDaxInfo("/dev/daxX", 250, c.min)
		if err != nil || d.size != c.size || d.align != c.align {
			t.Errorf("250:%d: %+v, %v; want size %d align %d", c.min, d, err, c.size, c.align)
		}
	}
	for _, min := range []uint32{2, 3, 4, 5} {
		if d, err := devDaxInfo("/dev/daxX", 250, min); !errors.Is(err, errs.Invalid) && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("250:%d: %+v, %v; want an error", min, d, err)
		} else {
			t.Log(err)
		}
	}
}

// On a machine with device DAX, probe the real thing.
func TestRealDevDax(t *testing.T) {
	devs, _ := filepath.Glob("/dev/dax*")
	if len(devs) == 0 {
		t.Skip("no device-DAX device on this machine")
	}
	p, err := ProbePath(devs[0])
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != KindDevDax || p.FSType != "devdax" || p.Mode != PMem {
		t.Fatalf("probe of %s: %+v", devs[0], p)
	}
}

func TestLockedAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	// This process holds it; a child is refused and told who holds it.
	r := mustOpen(t, path, Options{Size: Alignment})
	res := runChild(t, helperCmd(bin, "open", path))
	if !res.Locked || !strings.Contains(res.Err, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("child opening a held region: %+v", res)
	}
	t.Logf("child: %s", res.Err)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	// A child holds it; this process is refused, then gets it once the
	// child is killed (the kernel drops the lock with the process).
	cmd := helperCmd(bin, "hold", path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q, %v", line, err)
	}
	_, err = Open(path, Options{})
	if !errors.Is(err, errs.Locked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("Open while a child holds it = %v, want errs.Locked naming pid %d", err, cmd.Process.Pid)
	}
	t.Logf("parent: %v", err)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	mustOpen(t, path, Options{})
}

// Root ignores file permissions, so as root the check runs in a child that
// drops to nobody; otherwise chmod is enough.
func TestPermissionDenied(t *testing.T) {
	// Not t.TempDir: its parent is private to us, and nobody must reach
	// the files to be refused by their own permissions.
	dir, err := os.MkdirTemp("", "daxkv-region-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret") // unreadable to others
	if err := os.WriteFile(secret, make([]byte, Alignment), 0o600); err != nil {
		t.Fatal(err)
	}
	readonly := filepath.Join(dir, "readonly") // readable, not writable
	if err := os.WriteFile(readonly, make([]byte, Alignment), 0o644); err != nil {
		t.Fatal(err)
	}

	if os.Geteuid() != 0 {
		os.Chmod(secret, 0)
		os.Chmod(readonly, 0o444)
		if _, err := ProbePath(secret); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("ProbePath(unreadable) = %v, want fs.ErrPermission", err)
		}
		for _, p := range []string{secret, readonly} {
			if _, err := Open(p, Options{}); !errors.Is(err, fs.ErrPermission) {
				t.Errorf("Open(%s) = %v, want fs.ErrPermission", p, err)
			}
		}
		return
	}

	// The child must be able to execute a copy of this binary.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "region.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	try := func(action, path string) helperResult {
		cmd := helperCmd(bin, action, path)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: nobody}
		out, err := cmd.Output()
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("cannot start a child as uid 65534: %v", err)
		}
		if err != nil {
			t.Fatalf("child %s %s: %v (%q)", action, path, err, out)
		}
		var res helperResult
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("child output %q: %v", out, err)
		}
		return res
	}
	for _, c := range []struct{ action, path string }{{"probe", secret}, {"open", secret}, {"open", readonly}} {
		res := try(c.action, c.path)
		if !res.Perm {
			t.Errorf("%s %s as nobody: %+v, want a permission error", c.action, c.path, res)
		}
		t.Logf("%s %s as nobody: %s", c.action, filepath.Base(c.path), res.Err)
	}
	// The readable file probes fine as nobody: the probe needs no write.
	if res := try("probe", readonly); res.Err != "" {
		t.Errorf("probe of a readable file as nobody: %s", res.Err)
	}
}

// pageDirty reads the kernel's dirty flag of the page behind addr
// (/proc/self/pagemap for the frame, /proc/kpageflags for its flags).
func pageDirty(t *testing.T, addr uintptr) bool {
	t.Helper()
	read := func(name string, index uint64) uint64 {
		f, err := os.Open(name)
		if err != nil {
			t.Skipf("page flags unavailable: %v", err)
		}
		defer f.Close()
		var b [8]byte
		if _, err := f.ReadAt(b[:], int64(index*8)); err != nil {
			t.Skipf("page flags unavailable: %v", err)
		}
		return binary.LittleEndian.Uint64(b[:])
	}
	entry := read("/proc/self/pagemap", uint64(addr)/uint64(os.Getpagesize()))
	pfn := entry & (1<<55 - 1)
	if entry&(1<<63) == 0 || pfn == 0 {
		t.Skip("page frame numbers hidden (needs CAP_SYS_ADMIN)")
	}
	const kpfDirty = 4
	return read("/proc/kpageflags", pfn)&(1<<kpfDirty) != 0
}

func TestSyncWritesBackPages(t *testing.T) {
	dir := t.TempDir()
	if p, err := probeDir(dir); err != nil || p.Mode != PageCache {
		t.Skipf("temp dir is not a page-cache filesystem (%+v, %v)", p, err)
	}
	r := mustOpen(t, filepath.Join(dir, "r"), Options{Size: 8 * Alignment})
	ps := r.PageSize()
	if ps*3 > len(r.Data) {
		t.Skipf("page size %d too large for the test", ps)
	}
	r.Data[10] = 1
	r.Data[2*ps+10] = 1
	if !pageDirty(t, dataAddr(r.Data[0:])) || !pageDirty(t, dataAddr(r.Data[2*ps:])) {
		t.Fatal("written pages are not dirty")
	}
	if err := r.Sync(r.Data[5:20]); err != nil {
		t.Fatal(err)
	}
	if pageDirty(t, dataAddr(r.Data[0:])) {
		t.Fatal("Sync left its page dirty")
	}
	// A page outside the range is left for later.
	if !pageDirty(t, dataAddr(r.Data[2*ps:])) {
		t.Error("Sync of page 0 also wrote back page 2")
	}
	if err := r.Sync(r.Data); err != nil {
		t.Fatal(err)
	}
	if pageDirty(t, dataAddr(r.Data[2*ps:])) {
		t.Fatal("Sync(Data) left page 2 dirty")
	}
	// What was synced is in the file.
	f, err := os.Open(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], int64(2*ps+10)); err != nil || b[0] != 1 {
		t.Fatalf("file reads %v, %v", b, err)
	}
}

// TestPopulate checks that Populate maps exactly the pages asked for,
// leaves their bytes alone, and refuses read-only, foreign and closed use.
func TestPopulate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	const unit = 64 * Alignment
	r := mustOpen(t, path, Options{Size: 4 * unit})
	pages := unit / os.Getpagesize()
	mapped := func(b []byte) int {
		t.Helper()
		n, err := r.Mapped(b)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	third, fourth := r.Data[2*unit:3*unit], r.Data[3*unit:]
	if n := mapped(third) + mapped(fourth); n != 0 {
		t.Fatalf("%d untouched pages already mapped", n)
	}
	r.Data[unit+100] = 0xA5 // maps one page of the second unit
	if err := r.Populate(r.Data[unit : 2*unit]); err != nil {
		t.Fatal(err)
	}
	if err := r.Populate(third[1 : len(third)-1]); err != nil { // widened to whole pages
		t.Fatal(err)
	}
	if got := r.Data[unit+100]; got != 0xA5 {
		t.Fatalf("populate changed a byte: %#x", got)
	}
	if n := mapped(r.Data[unit : 2*unit]); n != pages {
		t.Errorf("second unit: %d of %d pages mapped", n, pages)
	}
	if n := mapped(third); n != pages {
		t.Errorf("third unit: %d of %d pages mapped", n, pages)
	}
	if n := mapped(fourth); n != 0 {
		t.Errorf("fourth unit, not populated: %d pages mapped", n)
	}
	if err := r.Populate(make([]byte, 10)); !errors.Is(err, errs.Invalid) {
		t.Errorf("Populate(foreign slice) = %v, want errs.Invalid", err)
	}
	data := r.Data
	r.Close()
	if err := r.Populate(data[:10]); !errors.Is(err, errs.Closed) {
		t.Errorf("Populate after Close = %v, want errs.Closed", err)
	}
	ro := mustOpen(t, path, Options{ReadOnly: true})
	if err := ro.Populate(ro.Data[:10]); !errors.Is(err, errs.Invalid) {
		t.Errorf("Populate(read-only) = %v, want errs.Invalid", err)
	}
}

// mappedHuge maps a new sparse file of size bytes in dir, asks for huge
// pages or not, touches every page and returns how many bytes smaps counts
// as huge-page mapped.
func mappedHuge(t *testing.T, dir string, size int, advise bool) int64 {
	t.Helper()
	f, err := os.CreateTemp(dir, "control")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(size)); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	if advise {
		if err := unix.Madvise(m, unix.MADV_HUGEPAGE); err != nil {
			t.Skipf("MADV_HUGEPAGE: %v", err)
		}
	}
	for i := 0; i < size; i += os.Getpagesize() {
		m[i] = 1
	}
	smaps, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer smaps.Close()
	n, err := parseSmapsHuge(smaps, uintptr(unsafe.Pointer(&m[0])), uintptr(size))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHugePagesAdvised(t *testing.T) {
	dir := tmpfstest.MountHuge(t, "32m", "advise")
	const size = 8 << 20
	// Controls: on this mount a plain mapping gets base pages and one
	// that asks gets huge pages, so what the region gets comes from its
	// own advice.
	if n := mappedHuge(t, dir, size, false); n != 0 {
		t.Skipf("this kernel maps %d bytes of an unadvised huge=advise mapping with huge pages", n)
	}
	if n := mappedHuge(t, dir, size, true); n == 0 {
		t.Skip("no huge pages for an advised mapping now (memory fragmented?)")
	}

	// A region file whose pages the mapping allocates. (Creating one
	// fallocates it, and pages allocated without a mapping get no advice:
	// on such a mount khugepaged collapses them later.)
	path := filepath.Join(dir, "r")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, path, Options{})
	if err := r.Populate(r.Data); err != nil {
		t.Fatal(err)
	}
	huge, err := r.HugeMapped()
	if err != nil {
		t.Fatal(err)
	}
	// The mapping may start off a 2 MiB boundary; the aligned middle of
	// 8 MiB still holds at least three huge pages.
	if huge < 3*(2<<20) || huge > size {
		t.Fatalf("HugeMapped = %d bytes of %d, want at least three 2 MiB pages", huge, size)
	}
	r.Close()
	if _, err := r.HugeMapped(); !errors.Is(err, errs.Closed) {
		t.Errorf("HugeMapped after Close = %v, want errs.Closed", err)
	}
}
