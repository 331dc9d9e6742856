package gateway

import (
	"testing"
	"time"
)

func TestMemoryReturnerFreesAfterManyNaps(t *testing.T) {
	var naps int64
	freed := 0
	m := &memoryReturner{naps: func() int64 { return naps }, free: func() { freed++ }}
	for _, step := range []struct {
		naps  int64
		freed int
	}{
		{0, 0},
		{returnAfter - 1, 0},
		{returnAfter, 1},
		{returnAfter + 10, 1},  // too few since the last return
		{2*returnAfter - 1, 1}, // still too few
		{2 * returnAfter, 2},   // enough again
		{2 * returnAfter, 2},   // nothing new: nothing to do
		{10 * returnAfter, 3},  // a burst counts once
		{10*returnAfter + 1, 3},
	} {
		naps = step.naps
		m.tick(time.Time{})
		if freed != step.freed {
			t.Fatalf("at %d naps: %d returns, want %d", step.naps, freed, step.freed)
		}
	}
}
