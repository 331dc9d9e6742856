package proxy

import "time"

// What the zero values of PoolOptions, HealthCheck and Options mean. package config fills its
// defaults from these, so that the running config shows the values in effect.
const (
	DefaultFailWindow            = 10 * time.Second // PoolOptions.FailWindow
	DefaultFailTimeout           = 30 * time.Second // PoolOptions.FailTimeout
	DefaultDialTimeout           = 5 * time.Second  // PoolOptions.DialTimeout
	DefaultMaxIdlePerTarget      = 256              // PoolOptions.MaxIdlePerTarget
	DefaultHealthInterval        = 5 * time.Second  // HealthCheck.Interval
	DefaultHealthTimeout         = 2 * time.Second  // HealthCheck.Timeout
	DefaultRise                  = 2                // HealthCheck.Rise
	DefaultFall                  = 3                // HealthCheck.Fall
	DefaultResponseHeaderTimeout = 30 * time.Second // Options.ResponseHeaderTimeout
	DefaultRetryBodyMax          = 64 << 10         // Options.RetryBodyMax
)
