package middleware

import (
	"context"
	"hash/maphash"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/frontgate/frontgate/internal/jsonerror"
)

// Defaults of RateLimitOptions.
const (
	DefaultRateLimitMaxKeys = 100_000
	DefaultRateLimitIdleTTL = 10 * time.Minute
)

// RateLimitOptions configures RateLimit. The zero value limits nothing (RPS 0): RateLimit returns next.
type RateLimitOptions struct {
	// RPS is the sustained rate each key may make, in requests per second; ≤ 0 disables limiting.
	RPS float64
	// Burst is how many requests a key may make at once, the size of its token bucket; ≤ 0 means
	// max(1, ceil(RPS)).
	Burst int
	// Key names the bucket a request counts against (see KeyClientIP, KeyHeader); nil means one global
	// bucket for all requests. Requests for which Key reports !ok share one bucket of their own, so a
	// key that cannot be worked out never lifts the limit.
	Key func(*http.Request) (key string, ok bool)
	// MaxKeys bounds how many per-key buckets are kept in memory; ≤ 0 means DefaultRateLimitMaxKeys.
	// The store is split in shards; a full shard first drops its idle buckets, then its least recently
	// used one (whose key starts over with a full bucket).
	MaxKeys int
	// IdleTTL is how long a key's bucket is kept unused before it is dropped; ≤ 0 means
	// DefaultRateLimitIdleTTL. It is raised to the time an empty bucket takes to refill (Burst/RPS),
	// so that forgetting a key never grants requests it would not have had anyway.
	IdleTTL time.Duration
	// Store keeps the buckets (for the same RPS and Burst) somewhere else, e.g. in Redis where
	// replicas share them; nil keeps them in this process's memory, bounded by MaxKeys and IdleTTL.
	Store RateStore
	// OnStoreError decides the requests Store fails to (an error, a deadline); the zero value is
	// StoreErrorLocal. Unused without a Store.
	OnStoreError StoreErrorPolicy
	// Replicas is how many processes share Store's buckets: under StoreErrorLocal each limits in its
	// own memory at RPS/Replicas with a burst of Burst/Replicas rounded up (at least 1). ≤ 0 means 1.
	Replicas int
	// OnFallback, if not nil, is called for every request decided by OnStoreError, with the decision:
	// FallbackLocalAllow, FallbackLocalDeny, FallbackAllow or FallbackDeny. Like OnReject (which a
	// refusal also calls), it runs on the request's goroutine and must be quick.
	OnFallback func(r *http.Request, decision string)
	// Now is the clock; nil means time.Now. Tests inject a fake one. A Store may keep its own clock.
	Now func() time.Time
	// Logger receives a Debug line per rejected request and per request Store failed to decide; nil
	// logs nothing.
	Logger *zap.Logger
	// OnReject, if not nil, is called for every rejected request (before the 429 is written), e.g. to
	// count it in a metric. It runs on the request's goroutine and must be quick.
	OnReject func(r *http.Request)
}

// RateStore keeps the token buckets of a RateLimit, one per key, all of the RateLimit's RPS and
// Burst. RateLimit keeps them in memory without one; package ratelimit keeps them in Redis.
type RateStore interface {
	// Allow takes a token from key's bucket if there is a whole one, as of now (a store with a clock
	// of its own may go by that instead), and says what is left. The key "" is the bucket of requests
	// without a key. An error means the store did not decide; the caller then decides itself.
	Allow(ctx context.Context, key string, now time.Time) (RateDecision, error)
}

// RateDecision is a RateStore's answer for one request.
type RateDecision struct {
	// Allowed is true when the request took a token.
	Allowed bool
	// Tokens is what the bucket holds after the decision, fractions included: between 0 and Burst.
	Tokens float64
}

// StoreErrorPolicy is what RateLimit does with a request its Store failed to decide. The zero value
// is StoreErrorLocal.
type StoreErrorPolicy int

const (
	// StoreErrorLocal limits in this process's memory at the replicas' share of the limit.
	StoreErrorLocal StoreErrorPolicy = iota
	// StoreErrorAllow lets the request through.
	StoreErrorAllow
	// StoreErrorDeny refuses the request with 429 and Retry-After: 1.
	StoreErrorDeny
)

// The decisions OnFallback reports.
const (
	FallbackLocalAllow = "local_allow" // StoreErrorLocal, and the local bucket had a token
	FallbackLocalDeny  = "local_deny"  // StoreErrorLocal, and the local bucket was empty
	FallbackAllow      = "allow"       // StoreErrorAllow
	FallbackDeny       = "deny"        // StoreErrorDeny
)

// RateLimit wraps next with a token-bucket limit per key. Every response carries the IETF draft
// headers RateLimit-Limit (the bucket size), RateLimit-Remaining (whole tokens left after this
// request) and RateLimit-Reset (seconds until the bucket is full again). A request over the limit is
// answered 429 with a JSON body and Retry-After (whole seconds until one token is back, at least 1);
// next is not called. RateLimit never waits or sleeps (beyond what its Store takes).
//
// With a Store, a request the Store fails to decide is decided by OnStoreError: under
// StoreErrorLocal its answer describes the local bucket (RateLimit-Limit is its burst); under
// StoreErrorAllow and StoreErrorDeny nothing is known of the bucket, so only RateLimit-Limit is sent
// (and, on a 429, Retry-After: 1).
func RateLimit(next http.Handler, opts RateLimitOptions) http.Handler {
	if opts.RPS <= 0 || math.IsNaN(opts.RPS) {
		return next
	}
	burst := opts.Burst
	if burst <= 0 {
		burst = int(math.Max(1, math.Ceil(math.Min(opts.RPS, math.MaxInt32))))
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	l := &rateLimiter{
		next:       next,
		key:        opts.Key,
		store:      opts.Store,
		shape:      newBucketShape(opts.RPS, burst),
		policy:     opts.OnStoreError,
		onFallback: opts.OnFallback,
		now:        now,
		log:        log,
		onReject:   opts.OnReject,
	}
	if l.store == nil {
		l.local = newLocalStore(opts.RPS, burst, opts.Key != nil, opts.MaxKeys, opts.IdleTTL)
		l.store = l.local
	} else if l.policy == StoreErrorLocal {
		n := max(1, opts.Replicas)
		rps, b := opts.RPS/float64(n), max(1, (burst+n-1)/n)
		l.fallback = newLocalStore(rps, b, opts.Key != nil, opts.MaxKeys, opts.IdleTTL)
		l.fallbackShape = newBucketShape(rps, b)
	}
	return l
}

type rateLimiter struct {
	next          http.Handler
	key           func(*http.Request) (string, bool) // nil: every request uses the key ""
	store         RateStore
	local         *localStore // store when it is the local one: called directly, without the interface
	shape         bucketShape
	policy        StoreErrorPolicy
	fallback      *localStore // the local buckets of StoreErrorLocal; nil without a Store or under another policy
	fallbackShape bucketShape
	onFallback    func(*http.Request, string)
	now           func() time.Time
	log           *zap.Logger
	onReject      func(*http.Request)
}

// bucketShape is a bucket's rate and size, for the headers.
type bucketShape struct {
	rps      float64
	burst    int
	limitHdr string // RateLimit-Limit's value
}

func newBucketShape(rps float64, burst int) bucketShape {
	return bucketShape{rps: rps, burst: burst, limitHdr: strconv.Itoa(burst)}
}

// The IETF draft's RateLimit-* names in canonical form (header names are case-insensitive), so that
// setting them on every response skips canonicalisation.
const (
	hdrLimit     = "Ratelimit-Limit"
	hdrRemaining = "Ratelimit-Remaining"
	hdrReset     = "Ratelimit-Reset"
)

// tokenEpsilon absorbs float error in token counts, so 2.9999999 tokens counts as 3.
const tokenEpsilon = 1e-9

func (l *rateLimiter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := l.now()
	key := ""
	if l.key != nil {
		if k, ok := l.key(r); ok {
			key = k
		}
	}
	var d RateDecision
	var err error
	if l.local != nil {
		d = l.local.decide(key, now)
	} else {
		d, err = l.store.Allow(r.Context(), key, now)
	}
	shape, known := &l.shape, true
	if err != nil {
		d, known = l.decideWithout(r, key, now, err)
		if l.fallback != nil {
			shape = &l.fallbackShape
		}
	}

	// The one place the headers are written, whoever decided.
	h := w.Header()
	h[hdrLimit] = []string{shape.limitHdr}
	if known {
		h[hdrRemaining] = []string{strconv.Itoa(int(math.Max(0, math.Floor(d.Tokens+tokenEpsilon))))}
		h[hdrReset] = []string{strconv.FormatInt(shape.seconds(float64(shape.burst)-d.Tokens), 10)}
	}
	if d.Allowed {
		l.next.ServeHTTP(w, r)
		return
	}
	retry := int64(1)
	if known {
		retry = max(1, shape.seconds(1-d.Tokens))
	}
	h.Set("Retry-After", strconv.FormatInt(retry, 10))
	l.log.Debug("rate limited",
		zap.String("key", key),
		zap.String("path", r.URL.Path),
		zap.String("request_id", r.Header.Get(RequestIDHeader)))
	if l.onReject != nil {
		l.onReject(r)
	}
	jsonerror.Write(w, r, http.StatusTooManyRequests)
}

// decideWithout decides r, which the store failed to (err), by the policy; known is false when the
// decision says nothing of a bucket.
func (l *rateLimiter) decideWithout(r *http.Request, key string, now time.Time, err error) (d RateDecision, known bool) {
	var decision string
	switch {
	case l.fallback != nil:
		d = l.fallback.decide(key, now)
		decision, known = FallbackLocalDeny, true
		if d.Allowed {
			decision = FallbackLocalAllow
		}
	case l.policy == StoreErrorAllow:
		d.Allowed, decision = true, FallbackAllow
	default:
		decision = FallbackDeny
	}
	l.log.Debug("rate limit store failed",
		zap.String("decision", decision),
		zap.String("request_id", r.Header.Get(RequestIDHeader)),
		zap.Error(err))
	if l.onFallback != nil {
		l.onFallback(r, decision)
	}
	return d, known
}

// seconds is how long, rounded up to whole seconds, the bucket takes to gain tokens; 0 for none.
func (b *bucketShape) seconds(tokens float64) int64 {
	if tokens <= tokenEpsilon {
		return 0
	}
	s := math.Ceil(tokens/b.rps - tokenEpsilon)
	return int64(math.Min(s, math.MaxInt32)) // a tiny RPS must not overflow
}

// localStore keeps buckets in this process's memory: one shared bucket, and one per key in a
// bounded limiterStore when requests are keyed.
type localStore struct {
	shared *rate.Limiter // the global bucket, or the bucket of requests without a key
	keys   *limiterStore // per-key buckets; nil when requests are not keyed
}

var _ RateStore = (*localStore)(nil)

func newLocalStore(rps float64, burst int, keyed bool, maxKeys int, ttl time.Duration) *localStore {
	limit := rate.Limit(rps)
	newLim := func() *rate.Limiter { return rate.NewLimiter(limit, burst) }
	s := &localStore{shared: newLim()}
	if !keyed {
		return s
	}
	if maxKeys <= 0 {
		maxKeys = DefaultRateLimitMaxKeys
	}
	if ttl <= 0 {
		ttl = DefaultRateLimitIdleTTL
	}
	// a year caps the float, so that a tiny RPS cannot overflow the Duration
	if refill := math.Min(float64(burst)/rps*float64(time.Second), float64(365*24*time.Hour)); refill > float64(ttl) {
		ttl = time.Duration(refill)
	}
	s.keys = newLimiterStore(maxKeys, limiterShards, ttl, newLim)
	return s
}

// Allow takes a token from key's bucket as of now; it never fails.
func (s *localStore) Allow(_ context.Context, key string, now time.Time) (RateDecision, error) {
	return s.decide(key, now), nil
}

// decide is Allow without the interface's context and error, for RateLimit's own calls.
func (s *localStore) decide(key string, now time.Time) RateDecision {
	lim := s.shared
	if key != "" && s.keys != nil {
		lim = s.keys.get(key, now)
	}
	allowed := lim.AllowN(now, 1)
	return RateDecision{Allowed: allowed, Tokens: lim.TokensAt(now)}
}

// KeyClientIP keys requests by client address as tp.ClientIP finds it. IPv6 clients are keyed by
// their /64 network, since one host or home usually has a whole /64 to pick addresses from. A request
// whose peer address does not parse reports !ok. The zero TrustedProxies keys by the TCP peer.
func KeyClientIP(tp TrustedProxies) func(*http.Request) (string, bool) {
	return func(r *http.Request) (string, bool) {
		return clientIPKey(tp, r)
	}
}

func clientIPKey(tp TrustedProxies, r *http.Request) (string, bool) {
	a := tp.ClientIP(r)
	if !a.IsValid() {
		return "", false
	}
	if a.Is6() {
		p, _ := a.Prefix(64) // cannot fail: 64 bits of an IPv6 address
		return "ip:" + p.String(), true
	}
	return "ip:" + a.String(), true
}

// KeyHeader keys requests by the value of the header name (e.g. "X-Api-Key"). A request without the
// header, or with an empty value, falls back to its client IP as KeyClientIP(tp) finds it; the two
// kinds of key never collide, so a header whose value is an address does not share that address's
// bucket. The header is taken as the client sends it: use it behind authentication, or a client can
// pick a fresh value per request.
func KeyHeader(name string, tp TrustedProxies) func(*http.Request) (string, bool) {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) (string, bool) {
		if v := r.Header.Get(name); v != "" {
			return "hdr:" + v, true
		}
		return clientIPKey(tp, r)
	}
}

// limiterShards is the number of shards of a limiterStore; a power of two.
const limiterShards = 64

// limiterStore keeps one rate.Limiter per key, in memory bounded by maxKeys whatever the number of
// distinct keys seen. Keys are stored by a seeded 64-bit hash, so memory does not grow with key
// length; two keys share a bucket only on a hash collision, which a client cannot aim for because the
// seed is random per process. Each shard is an LRU list: a lookup moves its entry to the front, an
// insertion into a full shard first drops idle entries from the back, then the least recently used.
type limiterStore struct {
	seed   maphash.Seed
	shards []limiterShard
	mask   uint64 // len(shards)-1
	ttl    time.Duration
	newLim func() *rate.Limiter
	size   atomic.Int64 // entries in all shards, for tests and the curious
}

type limiterShard struct {
	mu         sync.Mutex               // guards m, head, tail, and the prev, next and used fields of the entries in m
	m          map[uint64]*limiterEntry // by key hash
	head, tail *limiterEntry            // most and least recently used; nil when m is empty
	max        int                      // capacity of this shard, ≥ 1; set at construction, read-only
	_          [24]byte                 // pads the shard to 64 bytes so neighbours' mutexes do not share a cache line
}

type limiterEntry struct {
	hash       uint64
	lim        *rate.Limiter // has its own lock; used outside the shard's lock
	used       time.Time     // latest lookup
	prev, next *limiterEntry // towards head, towards tail
}

// newLimiterStore makes a store of at most maxKeys entries split over shards (rounded down to a power
// of two, and to at most maxKeys, so that every shard holds at least one entry).
func newLimiterStore(maxKeys, shards int, ttl time.Duration, newLim func() *rate.Limiter) *limiterStore {
	maxKeys = max(1, maxKeys)
	n := 1
	for n*2 <= shards && n*2 <= maxKeys {
		n *= 2
	}
	s := &limiterStore{seed: maphash.MakeSeed(), shards: make([]limiterShard, n), mask: uint64(n - 1), ttl: ttl, newLim: newLim}
	for i := range s.shards {
		s.shards[i].max = maxKeys / n
		if i < maxKeys%n {
			s.shards[i].max++
		}
		s.shards[i].m = make(map[uint64]*limiterEntry)
	}
	return s
}

// get returns key's limiter, making it (or remaking it, if it was idle for ttl) as of now.
func (s *limiterStore) get(key string, now time.Time) *rate.Limiter {
	h := maphash.String(s.seed, key)
	sh := &s.shards[h&s.mask]
	sh.mu.Lock()
	if e := sh.m[h]; e != nil {
		if now.Sub(e.used) >= s.ttl {
			e.lim = s.newLim() // idle for ttl: as good as dropped
		}
		if now.After(e.used) {
			e.used = now
		}
		sh.moveToFront(e)
		lim := e.lim
		sh.mu.Unlock()
		return lim
	}
	removed := sh.expire(now, s.ttl)
	var e *limiterEntry
	if len(sh.m) >= sh.max {
		e = sh.tail // reuse the least recently used entry's memory
		sh.unlink(e)
		delete(sh.m, e.hash)
		removed++
	} else {
		e = new(limiterEntry)
	}
	e.hash, e.lim, e.used = h, s.newLim(), now
	sh.m[h] = e
	sh.pushFront(e)
	s.size.Add(1 - int64(removed))
	lim := e.lim
	sh.mu.Unlock()
	return lim
}

// len is the number of keys held.
func (s *limiterStore) len() int { return int(s.size.Load()) }

// expire drops the entries at the back that were last used ttl or more before now, returning how many.
// Caller holds sh.mu.
func (sh *limiterShard) expire(now time.Time, ttl time.Duration) int {
	n := 0
	for e := sh.tail; e != nil && now.Sub(e.used) >= ttl; e = sh.tail {
		sh.unlink(e)
		delete(sh.m, e.hash)
		n++
	}
	return n
}

// Caller holds sh.mu for the list operations below.

func (sh *limiterShard) pushFront(e *limiterEntry) {
	e.prev, e.next = nil, sh.head
	if sh.head != nil {
		sh.head.prev = e
	}
	sh.head = e
	if sh.tail == nil {
		sh.tail = e
	}
}

func (sh *limiterShard) unlink(e *limiterEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		sh.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (sh *limiterShard) moveToFront(e *limiterEntry) {
	if sh.head == e {
		return
	}
	sh.unlink(e)
	sh.pushFront(e)
}
