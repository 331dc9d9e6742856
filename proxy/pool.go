package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Upstream is one target of a pool, with its health and load.
type Upstream struct {
	// URL is the target's base URL; its path, if any, prefixes every forwarded path.
	URL *url.URL
	// Name is the URL as configured, for logs.
	Name string
	// Weight is the target's share of requests relative to the pool's other targets (at least 1).
	Weight int

	inflight atomic.Int64 // requests being served now (least_conn, random)
	pool     *Pool

	// mu guards the health fields below, written on failures, checks and timers: rare events.
	mu         sync.Mutex
	failures   []time.Time // recent passive failures, oldest first, at most pool.opts.MaxFails
	ejected    bool        // passive: out until ejectTimer fires
	ejectTimer *time.Timer
	down       bool // active checks: failing
	passes     int  // active checks: passes in a row while down
	fails      int  // active checks: failures in a row while up
}

// Inflight is how many requests the target is serving now.
func (u *Upstream) Inflight() int64 { return u.inflight.Load() }

// Available reports whether the target may take requests now.
func (u *Upstream) Available() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.available()
}

// available reports whether the target may take requests. u.mu must be held.
func (u *Upstream) available() bool { return !u.ejected && !u.down }

// TargetSpec describes a target to NewPool.
type TargetSpec struct {
	// URL is an http(s) base URL.
	URL string
	// Weight is the share of requests; 0 means 1.
	Weight int
}

// PoolOptions configures a pool. Zero values take the defaults noted.
type PoolOptions struct {
	// Name labels the pool in logs.
	Name string
	// Selector picks targets; nil means round robin by weight.
	Selector Selector
	// MaxFails failures (connection errors, timeouts) within FailWindow eject a target for
	// FailTimeout. Zero or negative: passive health off.
	MaxFails    int
	FailWindow  time.Duration // zero: DefaultFailWindow (10s)
	FailTimeout time.Duration // zero: DefaultFailTimeout (30s)
	// Health configures active checks; a zero Path turns them off.
	Health HealthCheck
	// DialTimeout bounds connecting to a target; zero means DefaultDialTimeout (5s).
	DialTimeout time.Duration
	// MaxIdlePerTarget is how many keep-alive connections are kept per target; zero means DefaultMaxIdlePerTarget (256).
	MaxIdlePerTarget int
	// H2C speaks HTTP/2 without TLS to the targets.
	H2C bool
	// Logger receives health state changes, once per change; nil means zap.NewNop().
	Logger *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnChange, when set, is called after a target becomes available or unavailable (metrics, tests).
	OnChange func(target *Upstream, available bool)
}

// Pool is a set of targets sharing a connection pool, a selector and health state.
type Pool struct {
	opts      PoolOptions
	log       *zap.Logger
	now       func() time.Time
	targets   []*Upstream
	selector  Selector
	transport http.RoundTripper // health checks, tries lean does not take: lean (handing them to std), or std (h2c)
	lean      sender            // the lean HTTP/1.1 client, given each try's limits; nil: none (h2c)
	std       *http.Transport   // net/http's: https targets and upgrades, or everything for h2c
	// ready is the weighted wheel of available targets, rebuilt when health changes; nil or empty
	// means no target is available.
	ready atomic.Pointer[[]*Upstream]

	stop context.CancelFunc // stops health checks
	wg   sync.WaitGroup     // health-check goroutines
}

// NewPool builds a pool. Call Start to begin active health checks and Close to stop them.
func NewPool(targets []TargetSpec, opts PoolOptions) (*Pool, error) {
	if len(targets) == 0 {
		return nil, errors.New("new pool: no targets")
	}
	if opts.FailWindow == 0 {
		opts.FailWindow = DefaultFailWindow
	}
	if opts.FailTimeout == 0 {
		opts.FailTimeout = DefaultFailTimeout
	}
	p := &Pool{opts: opts, log: opts.Logger, now: opts.Now, selector: opts.Selector, stop: func() {}}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.selector == nil {
		p.selector = &RoundRobin{}
	}
	for _, t := range targets {
		u, err := url.Parse(t.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("new pool: target %q is not an http(s) URL", t.URL)
		}
		w := t.Weight
		if w <= 0 {
			w = 1
		}
		p.targets = append(p.targets, &Upstream{URL: u, Name: t.URL, Weight: w, pool: p})
	}
	opts.Logger = p.log // for the transport too
	p.transport, p.lean, p.std = newTransports(opts)
	p.rebuild()
	return p, nil
}

// Targets returns the pool's targets, available or not.
func (p *Pool) Targets() []*Upstream { return p.targets }

// Available returns the weighted wheel of targets that may take requests now.
func (p *Pool) Available() []*Upstream {
	if w := p.ready.Load(); w != nil {
		return *w
	}
	return nil
}

// rebuild recomputes the wheel of available targets: each appears weight/g times (g the weights'
// greatest common divisor), interleaved so that round robin over it spreads each target's turns.
func (p *Pool) rebuild() {
	var up []*Upstream
	g := 0
	for _, u := range p.targets {
		u.mu.Lock()
		ok := u.available()
		u.mu.Unlock()
		if ok {
			up = append(up, u)
			g = gcd(g, u.Weight)
		}
	}
	var wheel []*Upstream
	if len(up) > 0 {
		// Smooth weighted round robin, run once over a whole cycle.
		total := 0
		for _, u := range up {
			total += u.Weight / g
		}
		current := make([]int, len(up))
		for i := 0; i < total; i++ {
			best := 0
			for j, u := range up {
				current[j] += u.Weight / g
				if current[j] > current[best] {
					best = j
				}
			}
			current[best] -= total
			wheel = append(wheel, up[best])
		}
	}
	p.ready.Store(&wheel)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Start begins active health checks (if configured); they run until Close.
func (p *Pool) Start() {
	if p.opts.Health.Path == "" {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	for _, u := range p.targets {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.check(ctx, u)
		}()
	}
}

// Close stops health checks, waits for them, stops ejection timers and drops idle connections.
func (p *Pool) Close() {
	p.stop()
	p.wg.Wait()
	for _, u := range p.targets {
		u.mu.Lock()
		if u.ejectTimer != nil {
			u.ejectTimer.Stop()
		}
		u.mu.Unlock()
	}
	if t, ok := p.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// failed records a passive failure of u; MaxFails of them within FailWindow eject it.
func (p *Pool) failed(u *Upstream, err error) {
	max := p.opts.MaxFails
	if max <= 0 {
		return
	}
	now := p.now()
	u.mu.Lock()
	if u.ejected {
		u.mu.Unlock()
		return
	}
	cut := 0
	for cut < len(u.failures) && now.Sub(u.failures[cut]) > p.opts.FailWindow {
		cut++
	}
	u.failures = append(u.failures[cut:], now)
	if len(u.failures) < max {
		u.mu.Unlock()
		return
	}
	u.failures = u.failures[:0]
	u.ejected = true
	u.ejectTimer = time.AfterFunc(p.opts.FailTimeout, func() { p.readmit(u) })
	u.mu.Unlock()
	p.log.Warn("upstream target ejected", zap.String("pool", p.opts.Name), zap.String("target", u.Name),
		zap.Int("failures", max), zap.Duration("window", p.opts.FailWindow), zap.Duration("for", p.opts.FailTimeout), zap.Error(err))
	p.changed(u)
}

// readmit ends a passive ejection.
func (p *Pool) readmit(u *Upstream) {
	u.mu.Lock()
	was := u.ejected
	u.ejected = false
	u.mu.Unlock()
	if was {
		p.log.Info("upstream target readmitted", zap.String("pool", p.opts.Name), zap.String("target", u.Name))
		p.changed(u)
	}
}

// changed rebuilds the wheel after u's state changed and tells OnChange.
func (p *Pool) changed(u *Upstream) {
	p.rebuild()
	if p.opts.OnChange != nil {
		u.mu.Lock()
		ok := u.available()
		u.mu.Unlock()
		p.opts.OnChange(u, ok)
	}
}
