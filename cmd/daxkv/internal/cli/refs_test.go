package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSnapshotsAndBranchesCLI(t *testing.T) {
	isolate(t)
	path := newRegion(t)
	t.Setenv("DAXKV_PATH", path)
	ok(t, "put", "a", "1")
	ok(t, "put", "b", "2")
	r := ok(t, "snapshot", "create", "s1", "--json")
	created := decode[refDoneJSON](t, r)
	if created.Action != "created" || created.Name != "s1" || created.Kind != "snapshot" || created.Parent != "main" || created.Seq == 0 || created.Created.IsZero() {
		t.Errorf("snapshot create --json: %+v", created)
	}
	ok(t, "put", "a", "10")
	ok(t, "del", "b")
	ok(t, "put", "c", "3")
	if r := ok(t, "clone", "s1", "dev"); !strings.Contains(r.stdout, "Created branch dev from s1") {
		t.Errorf("clone says %q", r.stdout)
	}
	ok(t, "put", "--branch", "dev", "d", "4")
	ok(t, "del", "--branch", "dev", "a")
	ok(t, "branch", "create", "dev2", "--from", "dev")

	// Each ref reads as its own.
	scan := func(args ...string) string { return ok(t, append([]string{"scan"}, args...)...).stdout }
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "a\t10\nc\t3\n"},
		{[]string{"--snapshot", "s1"}, "a\t1\nb\t2\n"},
		{[]string{"--branch", "dev"}, "b\t2\nd\t4\n"},
		{[]string{"--branch", "dev2"}, "b\t2\nd\t4\n"},
		{[]string{"--branch", "main"}, "a\t10\nc\t3\n"},
	} {
		if got := scan(c.args...); got != c.want {
			t.Errorf("scan %q = %q, want %q", c.args, got, c.want)
		}
	}
	if got := ok(t, "get", "--snapshot", "s1", "a").stdout; got != "1" {
		t.Errorf("get --snapshot s1 a = %q", got)
	}
	if got := ok(t, "get", "--branch", "dev", "d").stdout; got != "4" {
		t.Errorf("get --branch dev d = %q", got)
	}

	// Diff, text and JSON Lines.
	if got := ok(t, "snapshot", "diff", "s1", "main").stdout; got != "M a\n- b\n+ c\n" {
		t.Errorf("diff s1 main = %q", got)
	}
	var changes []diffJSON
	for _, line := range strings.Split(strings.TrimSpace(ok(t, "snapshot", "diff", "s1", "dev", "--json").stdout), "\n") {
		var d diffJSON
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("diff --json line %q: %v", line, err)
		}
		changes = append(changes, d)
	}
	if len(changes) != 2 || changes[0] != (diffJSON{"a", "string", "removed"}) || changes[1] != (diffJSON{"d", "string", "added"}) {
		t.Errorf("diff s1 dev --json = %+v", changes)
	}
	if got := ok(t, "snapshot", "diff", "dev", "dev2").stdout; got != "" {
		t.Errorf("diff of a branch and its clone = %q", got)
	}

	// Lists, with space.
	list := decode[refListJSON](t, ok(t, "branch", "list", "--json"))
	var names []string
	for _, r := range list.Refs {
		names = append(names, r.Name)
		if r.Kind != "branch" || r.Used == nil || r.Refer == nil || *r.Refer < *r.Used || *r.Refer == 0 {
			t.Errorf("branch list entry %+v", r)
		}
	}
	if strings.Join(names, ",") != "main,dev,dev2" {
		t.Errorf("branches %q", names)
	}
	text := ok(t, "snapshot", "list").stdout
	if !strings.HasPrefix(text, "NAME") || !strings.Contains(text, "USED") || !strings.Contains(text, "REFER") || !strings.Contains(text, "s1 ") {
		t.Errorf("snapshot list:\n%s", text)
	}

	// Restore, then deletes.
	if r := ok(t, "snapshot", "restore", "main", "s1"); r.stdout != "Restored branch main to snapshot s1\n" {
		t.Errorf("restore says %q", r.stdout)
	}
	if got := scan(); got != "a\t1\nb\t2\n" {
		t.Errorf("main after restore = %q", got)
	}
	ok(t, "branch", "delete", "dev")
	ok(t, "snapshot", "delete", "s1")
	if got := ok(t, "snapshot", "list").stdout; got != "No snapshots\n" {
		t.Errorf("snapshot list when empty = %q", got)
	}
	if got := scan("--branch", "dev2"); got != "b\t2\nd\t4\n" {
		t.Errorf("dev2 after its parent's deletion = %q", got)
	}
	ok(t, "check") // exits 1 on any problem
}

func TestRefsCLIBadInput(t *testing.T) {
	isolate(t)
	path := newRegion(t)
	t.Setenv("DAXKV_PATH", path)
	ok(t, "put", "a", "1")
	ok(t, "snapshot", "create", "snap")
	checkFailure(t, run(t, "snapshot", "create", "snap"), "exists")
	checkFailure(t, run(t, "branch", "create", "snap"), "exists")
	checkFailure(t, run(t, "snapshot", "create", "a/b"), "invalid")
	checkFailure(t, run(t, "snapshot", "create", strings.Repeat("n", 256)), "exceeds 255")
	checkFailure(t, run(t, "snapshot", "create", "x", "--from", "nope"), "nope", "not found")
	checkFailure(t, run(t, "branch", "delete", "main"), "main", "cannot be deleted")
	checkFailure(t, run(t, "branch", "delete", "snap"), "snapshot")
	checkFailure(t, run(t, "snapshot", "delete", "nope"), "not found")
	checkFailure(t, run(t, "snapshot", "restore", "snap", "snap"), "snapshot")
	checkFailure(t, run(t, "snapshot", "diff", "snap", "nope"), "nope")
	checkFailure(t, run(t, "put", "--branch", "snap", "k", "v"), "read-only", "clone")
	checkFailure(t, run(t, "get", "--branch", "nope", "a"), `no branch named "nope"`)
	checkFailure(t, run(t, "get", "--snapshot", "main", "a"), "branch, not a snapshot")
	checkUsage(t, run(t, "get", "--branch", "main", "--snapshot", "snap", "a"), "not both")
	checkUsage(t, run(t, "snapshot", "create"))
	checkUsage(t, run(t, "clone", "snap"))
	checkUsage(t, run(t, "put", "--snapshot", "snap", "k", "v"), "unknown flag")
	// Nothing above changed the data.
	if got := ok(t, "scan").stdout; got != "a\t1\n" {
		t.Errorf("main = %q", got)
	}
	if got := ok(t, "scan", "--snapshot", "snap").stdout; got != "a\t1\n" {
		t.Errorf("snap = %q", got)
	}
}
