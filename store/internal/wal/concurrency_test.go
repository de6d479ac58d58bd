package wal

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestConcurrentCommits: N goroutines commit at once. Every returned
// position is unique, every rec holds its payload, seqs follow positions,
// and replay yields exactly the committed records.
func TestConcurrentCommits(t *testing.T) {
	const writers, perWriter = 8, 300
	ring := make([]byte, 4<<20)
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{})
	type result struct {
		pos     Position
		payload []byte
		rec     []byte
	}
	results := make([][]result, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := uint64(w*perWriter + i + 1)
				payload := idPayload(id, 8+int(id*37%1200))
				pos, rec, err := l.Commit(payload)
				if err != nil {
					t.Error(err)
					return
				}
				results[w] = append(results[w], result{pos, payload, rec})
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	bySeq := map[uint64]result{}
	byOff := map[uint64]bool{}
	for _, rs := range results {
		for _, r := range rs {
			if _, dup := bySeq[r.pos.Seq]; dup || byOff[r.pos.Off] {
				t.Fatalf("position %+v returned twice", r.pos)
			}
			bySeq[r.pos.Seq], byOff[r.pos.Off] = r, true
			if !bytes.Equal(r.rec, r.payload) {
				t.Fatalf("rec at %+v does not hold its payload", r.pos)
			}
		}
	}
	_, got, end := openReplay(t, ring, Position{0, 1}, Options{ReadOnly: true})
	if len(got) != writers*perWriter || end != l.End() {
		t.Fatalf("replayed %d records to %+v, committed %d to %+v", len(got), end, writers*perWriter, l.End())
	}
	for _, g := range got {
		r, ok := bySeq[g.pos.Seq]
		if !ok || r.pos != g.pos || !bytes.Equal(g.payload, r.payload) {
			t.Fatalf("replayed %+v: not what Commit returned", g.pos)
		}
	}
}

// TestConcurrentFullAndTruncate: goroutines commit until each sees
// ErrFull; nothing they wrote is overwritten; after a Truncate they all
// commit again.
func TestConcurrentFullAndTruncate(t *testing.T) {
	const writers = 6
	ring := make([]byte, MinSize)
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{})
	type result struct {
		pos     Position
		payload []byte
		rec     []byte
	}
	for round := range 5 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var all []result
		for w := range writers {
			wg.Go(func() {
				for i := 0; ; i++ {
					payload := idPayload(uint64(round<<20|w<<10|i), 8+(w*131+i*17)%900)
					pos, rec, err := l.Commit(payload)
					if errors.Is(err, ErrFull) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					all = append(all, result{pos, payload, rec})
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		// The last ErrFull needed at most its record, a pad before it
		// (smaller than the record), and the marker, possibly pushed to the
		// next lap.
		if free := l.Size() - l.Used(); free >= 2*int64(recordLen(907))+24+markerLen {
			t.Fatalf("round %d: every writer saw ErrFull with %d bytes free", round, free)
		}
		for _, r := range all {
			if !bytes.Equal(r.rec, r.payload) {
				t.Fatalf("round %d: record %+v overwritten", round, r.pos)
			}
		}
		l.Truncate(l.End())
		if l.Used() != 0 {
			t.Fatalf("round %d: Used %d after truncating to the end", round, l.Used())
		}
	}
}

// TestGroupCommit: while a leader is inside its Drain, later committers
// queue up; the next leader writes all of them and drains once.
func TestGroupCommit(t *testing.T) {
	const followers = 5
	ring := make([]byte, MinSize)
	p := &countPersister{}
	l, _, _ := openReplay(t, ring, Position{0, 1}, Options{Persister: p})
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	p.onDrain = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	drains := p.drains.Load()
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, _, err := l.Commit([]byte("leader")); err != nil {
			t.Error(err)
		}
	})
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first Commit never drained")
	}
	for range followers {
		wg.Go(func() {
			if _, _, err := l.Commit([]byte("follower")); err != nil {
				t.Error(err)
			}
		})
	}
	// Wait until every follower has queued its record behind the leader.
	for deadline := time.Now().Add(10 * time.Second); ; {
		l.mu.Lock()
		queued := len(l.queue)
		l.mu.Unlock()
		if queued == followers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d followers queued", queued)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if got := p.drains.Load() - drains; got != 2 {
		t.Fatalf("%d drains for one leader and one group of followers, want 2", got)
	}
	_, got, _ := openReplay(t, ring, Position{0, 1}, Options{ReadOnly: true})
	if len(got) != followers+1 || string(got[0].payload) != "leader" {
		t.Fatalf("replayed %d records", len(got))
	}
}
