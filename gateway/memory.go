package gateway

import "time"

// Memory goes back to the system after many client connections went idle. A connection idle for a
// moment naps (package leanhttp): its goroutine's grown stack, its read buffer and its last
// request's objects become garbage. At the GC target cmd/frontgate sets (eight times the live heap)
// the runtime would neither collect them soon nor return the pages, so a burst of connections that
// then sit idle would keep the burst's memory. The check runs every returnInterval; a busy gateway
// whose connections never idle never pays for it.
const (
	returnInterval = 2 * time.Second
	returnAfter    = 256 // naps since the last return that make the next one worth a collection
)

// memoryReturner calls free (debug.FreeOSMemory: a collection, then every free page back to the
// system) when naps has grown by returnAfter since the last call.
type memoryReturner struct {
	naps func() int64 // leanhttp.Naps
	free func()
	last int64 // naps at the last return
}

func (m *memoryReturner) tick(time.Time) {
	if n := m.naps(); n-m.last >= returnAfter {
		m.last = n
		m.free()
	}
}
