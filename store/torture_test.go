//go:build torture

package store

import (
	"fmt"
	"testing"
)

// Longer versions of the crash simulation, run by `make torture`.

func TestTortureCrashSimulation(t *testing.T) {
	for seed := uint64(100); seed < 120; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := newCrashSim(t, seed, 512<<10)
			s.nested = 5
			for i := 0; i < 5000; i++ {
				s.step()
			}
			if err := s.db.Close(); err != nil {
				t.Fatal(err)
			}
			t.Logf("checked %d crash images", s.images)
		})
	}
}
