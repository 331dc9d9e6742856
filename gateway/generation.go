package gateway

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// generation is one config's gateway with a count of the requests running on it.
type generation struct {
	gw      *Gateway
	active  atomic.Int64
	retired atomic.Bool
	drained chan struct{} // closed once retired and the last running request has ended
	once    sync.Once
}

func newGeneration(gw *Gateway) *generation { return &generation{gw: gw, drained: make(chan struct{})} }

func (g *generation) release() {
	if g.active.Add(-1) == 0 && g.retired.Load() {
		g.once.Do(func() { close(g.drained) })
	}
}

// retire stops new requests from starting on g; drained closes when the last running one ends.
func (g *generation) retire() {
	g.retired.Store(true)
	if g.active.Load() == 0 {
		g.once.Do(func() { close(g.drained) })
	}
}

// generations hands each request the current generation; a request finishes on the generation it
// started on. The zero value has none: Store one before serving.
type generations struct{ current atomic.Pointer[generation] }

// ServeHTTP runs r on the current generation.
func (gs *generations) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := gs.acquire()
	defer g.release() // outside any loop: a defer in a loop is allocated on the heap
	g.gw.handler.ServeHTTP(w, r)
}

// acquire counts a request in on the current generation.
func (gs *generations) acquire() *generation {
	for {
		g := gs.current.Load()
		g.active.Add(1)
		if !g.retired.Load() {
			return g
		}
		g.release() // swapped out meanwhile: take the new one
	}
}
