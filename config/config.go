// Package config holds frontgate's configuration as plain data and loads it from YAML: one step decodes
// strictly (unknown keys are errors), fills defaults and validates, reporting every problem with its YAML
// path and line. Turning a Config into running handlers is the caller's job.
package config

import "time"

// Config is a whole frontgate configuration. The zero value is not valid; Load fills defaults.
type Config struct {
	// Listen is the gateway's address, host:port. Default ":8080".
	Listen string `yaml:"listen"`
	// Log configures logging; the zero value logs at info level, console on a terminal, json otherwise.
	Log Log `yaml:"log"`
	// Demo serves the demo routes (GET / and POST /demo1/{name}) when true.
	Demo bool `yaml:"demo"`
	// Server holds the public listener's limits; zero fields take defaults.
	Server Server `yaml:"server"`
	// Static lists folders served under URL prefixes, in the order given.
	Static []Static `yaml:"static"`
	// Upstreams names pools of targets that routes forward to.
	Upstreams map[string]Upstream `yaml:"upstreams"`
	// Routes forwards matching requests to an upstream pool; the first match wins.
	Routes []Route `yaml:"routes"`

	// Dir is the folder that relative static paths resolve against: the config file's folder. Empty
	// means the embedded default, whose static paths name folders of the embedded demo site.
	Dir string `yaml:"-"`
	// Embedded is true for the built-in default config.
	Embedded bool `yaml:"-"`
}

// Log configures the zap logger.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is json or console. Empty: console when stderr is a terminal, json otherwise.
	Format string `yaml:"format"`
	// Access writes one access-log line per request. Nil means true.
	Access *bool `yaml:"access"`
}

// AccessEnabled reports whether access logging is on (the default).
func (l Log) AccessEnabled() bool { return l.Access == nil || *l.Access }

// Server holds the public listener's protection limits. Zero values take the defaults below.
type Server struct {
	// ReadHeaderTimeout bounds the time to read request headers. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds the request header size. Default 64 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// ShutdownTimeout bounds the drain of in-flight requests on SIGINT/SIGTERM. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Static is a folder served under a URL prefix (the seed's add_static(prefix, path, name, show_index)).
type Static struct {
	// Prefix is the URL prefix, starting and ending with "/".
	Prefix string `yaml:"prefix"`
	// Path is the folder, relative to the config file's folder unless absolute.
	Path string `yaml:"path"`
	// Name makes the mount addressable (route name, logs). Default: the prefix.
	Name string `yaml:"name"`
	// ShowIndex answers folder URLs with an HTML listing; off by default.
	ShowIndex bool `yaml:"show_index"`
}

// Upstream is a pool of targets. Exactly one of Targets and Builtin is set.
type Upstream struct {
	// Targets are base URLs (http://host:port), used round-robin.
	Targets []string `yaml:"targets"`
	// Builtin names an upstream that frontgate runs itself on a loopback port: "echo" answers with what
	// it received. Used by the embedded default so /demo2 works on a fresh machine.
	Builtin string `yaml:"builtin"`
	// DialTimeout bounds connecting to a target. Default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// MaxIdlePerTarget is the keep-alive pool size per target. Default 256.
	MaxIdlePerTarget int `yaml:"max_idle_per_target"`
}

// Route forwards requests to an upstream pool. Exactly one of Path and PathPrefix is set.
type Route struct {
	// Path matches this exact URL path.
	Path string `yaml:"path"`
	// PathPrefix matches every URL path that starts with it.
	PathPrefix string `yaml:"path_prefix"`
	// StripPrefix removes PathPrefix from the forwarded path (only with path_prefix).
	StripPrefix bool `yaml:"strip_prefix"`
	// Methods restricts the route to these methods; empty matches all.
	Methods []string `yaml:"methods"`
	// Upstream names the pool in Config.Upstreams.
	Upstream string `yaml:"upstream"`
	// Name appears in access logs. Default: the path or prefix.
	Name string `yaml:"name"`
	// ResponseHeaderTimeout bounds the wait for the upstream's response headers (504 past it). Default 30s.
	ResponseHeaderTimeout time.Duration `yaml:"response_header_timeout"`
}
