package proxy

import (
	"math"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
)

// Selector picks the target for a request from a non-empty pool: the weighted wheel of available
// targets, in which a target of weight w appears w times (reduced by the weights' common divisor).
type Selector interface {
	Select(pool []*Upstream, r *http.Request) *Upstream
}

var (
	_ Selector = (*RoundRobin)(nil)
	_ Selector = (*LeastConn)(nil)
	_ Selector = (*Random)(nil)
	_ Selector = (*Hash)(nil)
)

// RoundRobin hands out targets in turn, by weight. The zero value is ready to use.
type RoundRobin struct{ n atomic.Uint64 }

// Select returns the next target in turn.
func (rr *RoundRobin) Select(pool []*Upstream, _ *http.Request) *Upstream {
	return pool[(rr.n.Add(1)-1)%uint64(len(pool))]
}

// LeastConn picks the target with the fewest requests in flight per unit of weight; ties go to the
// next in turn. The zero value is ready to use.
type LeastConn struct{ n atomic.Uint64 }

// Select returns the least loaded target.
func (lc *LeastConn) Select(pool []*Upstream, _ *http.Request) *Upstream {
	start := int((lc.n.Add(1) - 1) % uint64(len(pool)))
	var best *Upstream
	for i := range pool {
		u := pool[(start+i)%len(pool)]
		// Compare inflight/weight without division: a/wa < b/wb  ⇔  a*wb < b*wa.
		if best == nil || u.Inflight()*int64(best.Weight) < best.Inflight()*int64(u.Weight) {
			best = u
		}
	}
	return best
}

// Random is the power of two choices: of two targets drawn at random (by weight), the one with fewer
// requests in flight. The zero value is ready to use.
type Random struct{}

// Select returns the less loaded of two random targets.
func (Random) Select(pool []*Upstream, _ *http.Request) *Upstream {
	a, b := pool[rand.IntN(len(pool))], pool[rand.IntN(len(pool))]
	if b.Inflight()*int64(a.Weight) < a.Inflight()*int64(b.Weight) {
		return b
	}
	return a
}

// Hash maps each request key to a target by weighted rendezvous hashing: when a target leaves, only
// the keys that were on it move, and each key keeps its target while the set is unchanged. The hash is
// fixed (not seeded per process), so every gateway instance maps a key to the same target. The zero
// value hashes the client's remote address.
type Hash struct {
	// Key extracts the request's key (a client IP, a header, a cookie); nil hashes r.RemoteAddr.
	Key func(r *http.Request) string
}

// Select returns the target with the highest weighted score for the request's key.
func (h *Hash) Select(pool []*Upstream, r *http.Request) *Upstream {
	key := r.RemoteAddr
	if h.Key != nil {
		key = h.Key(r)
	}
	k := fnv1a(fnvOffset, key)
	var best *Upstream
	bestScore := math.Inf(-1)
	for _, u := range pool {
		if u == best {
			continue // the wheel repeats targets; one score each is enough
		}
		// A uniform (0,1) from the mixed hash of (target, key), then the weighted score w / -ln(x).
		x := (float64(mix(fnv1a(k, u.Name))>>11) + 0.5) / (1 << 53)
		score := float64(u.Weight) / -math.Log(x)
		if score > bestScore {
			best, bestScore = u, score
		}
	}
	return best
}

const fnvOffset, fnvPrime = 14695981039346656037, 1099511628211

// fnv1a continues an FNV-1a hash h over s.
func fnv1a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix is splitmix64's finaliser: it spreads FNV's weak low bits over the whole word.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
