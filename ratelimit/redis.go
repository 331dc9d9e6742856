// Package ratelimit keeps rate-limit buckets in Redis, so that the replicas of a gateway share one
// limit: a Client is one connection pool with its circuit breaker, and each Bucket is one limit
// (a route's rps and burst) that middleware.RateLimit asks through its middleware.RateStore
// interface. Every call has a deadline, and the breaker stops calling a Redis that keeps failing,
// so a slow or dead Redis costs a request at most the deadline; what the request gets then is
// middleware.RateLimit's business (its OnStoreError).
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"

	"github.com/frontgate/frontgate/middleware"
)

// Defaults of Options.
const (
	DefaultTimeout         = 20 * time.Millisecond
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = time.Second
)

// ErrBreakerOpen is the error of a call the open breaker did not let through.
var ErrBreakerOpen = errors.New("redis circuit breaker open")

// Observer receives what the metrics need; gateway's Observer (admin.Metrics) is one.
type Observer interface {
	// RateStoreCall reports one call to Redis: its latency and its failure, "" when Redis answered,
	// "timeout" when the deadline passed, "error" otherwise.
	RateStoreCall(latency time.Duration, failure string)
	// RateStoreBreaker reports the breaker's state after a change: closed, half_open or open.
	RateStoreBreaker(state string)
}

// Options configure a Client. Only Addr is required; every other zero value takes a default.
type Options struct {
	// Addr is the server's host:port.
	Addr string
	// Password is sent with AUTH; empty: none.
	Password string
	// DB is the database number; 0 is Redis's default.
	DB int
	// Timeout bounds each call, waiting for a connection and dialing included; ≤ 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// BreakerFailures consecutive failed calls open the breaker; ≤ 0 means DefaultBreakerFailures.
	BreakerFailures int
	// BreakerCooldown is how long an open breaker lets no call through before a probe; ≤ 0 means
	// DefaultBreakerCooldown.
	BreakerCooldown time.Duration
	// Now is the breaker's clock; nil means time.Now. Buckets go by Redis's clock (TIME) instead.
	Now func() time.Time
	// Observer receives call latencies and failures and the breaker's state; nil: none.
	Observer Observer
	// Logger receives a line when the breaker opens and when it closes again; nil: none.
	Logger *zap.Logger
}

// Client is a connection pool to one Redis server with a circuit breaker, shared by the Buckets made
// from it. It connects on the first call, not before. Close it when its buckets are no longer used.
type Client struct {
	rdb     *redis.Client
	timeout time.Duration
	breaker *Breaker
	obs     Observer // nil: none
}

// New returns a client for opts; it does not connect yet.
func New(opts Options) *Client {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	failures := opts.BreakerFailures
	if failures <= 0 {
		failures = DefaultBreakerFailures
	}
	cooldown := opts.BreakerCooldown
	if cooldown <= 0 {
		cooldown = DefaultBreakerCooldown
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	c := &Client{timeout: timeout, obs: opts.Observer}
	c.breaker = NewBreaker(failures, cooldown, opts.Now, func(s BreakerState) {
		if s == Open {
			log.Warn("redis failing: rate limits fall back to on_store_error", zap.String("addr", opts.Addr),
				zap.Int("failures", failures), zap.Duration("retry_in", cooldown))
		} else if s == Closed {
			log.Info("redis answering again: rate limits shared", zap.String("addr", opts.Addr))
		}
		if c.obs != nil {
			c.obs.RateStoreBreaker(s.String())
		}
	})
	c.rdb = redis.NewClient(&redis.Options{
		Addr:     opts.Addr,
		Password: opts.Password,
		DB:       opts.DB,
		// RESP2 and no CLIENT SETINFO or maintenance notifications: a connection costs AUTH and
		// SELECT at most, and any Redis since 2.6 (EVALSHA) will do.
		Protocol:                 2,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		// Every wait is bounded by the call's deadline: go-redis applies the context's deadline
		// only with ContextTimeoutEnabled, and the timeouts below bound what runs without one.
		ContextTimeoutEnabled: true,
		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		PoolTimeout:           timeout,
		// One retry of a command on a connection that turned out dead (Redis restarted), at
		// once; one retry of a dial that failed, after a quarter of the timeout, so that a
		// refused connection fails the call before its deadline. Both within the deadline.
		MaxRetries:         1,
		MinRetryBackoff:    -1,
		DialerRetries:      2,
		DialerRetryTimeout: timeout / 4,
	})
	if c.obs != nil {
		c.obs.RateStoreBreaker(Closed.String())
	}
	return c
}

// Breaker is the client's circuit breaker, for tests and the curious.
func (c *Client) Breaker() *Breaker { return c.breaker }

// Close closes the connections and stops go-redis's goroutines; calls after it fail.
func (c *Client) Close() error {
	if err := c.rdb.Close(); err != nil {
		return fmt.Errorf("close redis client: %w", err)
	}
	return nil
}

// Bucket returns the store of one limit, rps requests a second up to burst at once, whose keys are
// named after limit (a route's name) so that two limits never share a key. Every replica that
// names a limit the same shares its buckets.
func (c *Client) Bucket(limit string, rps float64, burst int) *Bucket {
	interval := 1e6 / rps // µs a token takes
	return &Bucket{
		c:           c,
		prefix:      "frontgate:rl:" + strconv.Quote(limit) + ":",
		intervalArg: strconv.FormatFloat(interval, 'g', -1, 64),
		burstArg:    strconv.Itoa(burst),
		interval:    interval,
		burst:       float64(burst),
	}
}

// Bucket is one limit's buckets in Redis, one key per limit key: a middleware.RateStore.
type Bucket struct {
	c                     *Client
	prefix                string // of every key of this limit
	intervalArg, burstArg string // the script's arguments
	interval, burst       float64
}

var _ middleware.RateStore = (*Bucket)(nil)

// maxKeyLen is the longest limit key used as it is; a longer one (a client's header value may be
// kilobytes) is replaced by its SHA-256, so Redis keys stay short whatever clients send.
const maxKeyLen = 64

// Key is the Redis key of the bucket of key.
func (b *Bucket) Key(key string) string {
	if len(key) > maxKeyLen {
		sum := sha256.Sum256([]byte(key))
		key = "sha256:" + hex.EncodeToString(sum[:])
	}
	return b.prefix + key
}

// Allow takes a token from key's bucket in Redis, as of Redis's clock (now is not used, so that
// replicas with skewed clocks agree). The request's cancellation does not cut the call short: the
// client's deadline bounds it, and its outcome is Redis's, for the breaker. An error (the breaker
// open, a deadline, a connection or script failure) means Redis did not decide.
func (b *Bucket) Allow(ctx context.Context, key string, _ time.Time) (middleware.RateDecision, error) {
	c := b.c
	if !c.breaker.Allow() {
		return middleware.RateDecision{}, ErrBreakerOpen
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	start := time.Now()
	res, err := gcra.Run(ctx, c.rdb, []string{b.Key(key)}, b.intervalArg, b.burstArg).Slice()
	cancel()
	var d middleware.RateDecision
	if err == nil {
		d, err = b.decision(res)
	}
	if c.obs != nil {
		c.obs.RateStoreCall(time.Since(start), failureKind(err))
	}
	if err != nil {
		c.breaker.Failure()
		return d, fmt.Errorf("redis rate limit: %w", err)
	}
	c.breaker.Success()
	return d, nil
}

// decision reads the script's answer {allowed, µs until the bucket is full}.
func (b *Bucket) decision(res []any) (middleware.RateDecision, error) {
	if len(res) != 2 {
		return middleware.RateDecision{}, fmt.Errorf("script answered %d values, want 2", len(res))
	}
	allowed, ok1 := res[0].(int64)
	s, ok2 := res[1].(string)
	full, err := strconv.ParseFloat(s, 64)
	if !ok1 || !ok2 || err != nil {
		return middleware.RateDecision{}, fmt.Errorf("script answered %v", res)
	}
	tokens := min(b.burst, max(0, b.burst-full/b.interval))
	return middleware.RateDecision{Allowed: allowed == 1, Tokens: tokens}, nil
}

// failureKind names err for the metrics: "" for none, "timeout" or "error".
func failureKind(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "error"
}

// gcra is the generic cell rate algorithm on one key, in one script so that reading and writing the
// bucket is atomic across replicas. What it takes from go-redis/redis_rate's allowN script (itself
// after rwz/redis-gcra): storing only the theoretical arrival time (TAT, when the bucket would be
// full again) per key; reading the clock with Redis's TIME so that every replica uses one clock;
// shifting the epoch so that the numbers keep their precision in Lua's doubles; expiring the key
// when the bucket is full again, so that idle keys cost nothing; redis.replicate_commands() for
// Redis before 5, where a script may not write after TIME otherwise. What differs: time in
// microseconds rather than seconds, a fixed cost of one, and the answer is the time until the
// bucket is full (from which the caller computes the same token count as its local limiter, for
// the same headers) instead of remaining/retry/reset figures rounded in Lua. A request is let
// through when, after taking its token, the bucket is not past full: TAT + interval - now ≤
// burst × interval, with a microsecond's slack for float error.
//
// KEYS[1] the bucket; ARGV[1] µs per token (1e6/rps); ARGV[2] burst.
// Answer: {1 allowed or 0 refused, "µs until the bucket is full, after this request"}.
var gcra = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call("TIME")
-- microseconds since 2023-11-14 (1700000000 s): below 2^53 for centuries, finer than 0.1 µs today
local now = (tonumber(t[1]) - 1700000000) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call("GET", KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local full = tat + interval - now
if full > burst * interval + 1 then
  return {0, string.format("%.4f", tat - now)}
end
-- expire when the bucket is full again (in ms, rounded up; 1 ms at least, a year at most)
local px = math.max(1, math.min(math.ceil(full / 1000), 31536000000))
redis.call("SET", KEYS[1], string.format("%.4f", tat + interval), "PX", string.format("%d", px))
return {1, string.format("%.4f", full)}
`)

// SetRedisLogger sends go-redis's own log lines (a dial that failed, say) to log at debug level
// instead of the standard logger. go-redis has one logger per process: call this once, at start.
func SetRedisLogger(log *zap.Logger) { redis.SetLogger(zapPrintf{log}) }

// zapPrintf adapts a zap.Logger to go-redis's logger.
type zapPrintf struct{ log *zap.Logger }

func (z zapPrintf) Printf(_ context.Context, format string, v ...any) {
	if ce := z.log.Check(zap.DebugLevel, "redis client"); ce != nil {
		ce.Write(zap.String("detail", fmt.Sprintf(format, v...)))
	}
}
