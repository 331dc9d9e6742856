package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"

	"github.com/frontgate/frontgate/internal/httpsyntax"
	"github.com/frontgate/frontgate/leanhttp"
	"github.com/frontgate/frontgate/middleware"
	"github.com/frontgate/frontgate/proxy"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default config's text.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Default loads the embedded default config: a gateway on :8080 with the demo routes, the embedded
// demo site and a built-in echo upstream, needing nothing else on the machine.
func Default() (*Config, error) {
	c, err := Parse(defaultYAML, "(embedded default)", "")
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Load reads, decodes, fills defaults and validates the config file at path. Relative static paths
// resolve against the file's folder. A returned *Error lists every problem found.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve config path: %w", err)
	}
	return Parse(data, path, filepath.Dir(abs))
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse decodes data strictly, fills defaults and validates. name labels errors; dir is the folder
// relative static paths resolve against, or "" for the embedded default (paths inside the demo site).
func Parse(data []byte, name, dir string) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		p := Problem{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Msg = m[2]
		}
		lines := strings.Split(string(data), "\n")
		if p.Line > 0 && p.Line <= len(lines) && strings.Contains(lines[p.Line-1], "\t") {
			p.Msg += " (the line holds a tab: YAML indents with spaces only)"
		}
		if strings.HasPrefix(p.Msg, "did not find expected ',' or ") && p.Line > 0 {
			// The parser names the line before the unclosed bracket's: point at the bracket.
			for i := p.Line - 1; i < len(lines); i++ {
				if open := unclosed(lines[i]); open != 0 {
					p.Line, p.Msg = i+1, fmt.Sprintf("the %c opened on this line is not closed", open)
					break
				}
			}
		}
		return nil, &Error{File: name, Problems: []Problem{p}}
	}
	if len(root.Content) == 0 {
		return nil, &Error{File: name, Problems: []Problem{{Msg: "the file is empty"}}}
	}
	d := &decoder{lines: map[string]int{}, given: map[string]bool{}}
	var c Config
	d.decode(&root, reflect.ValueOf(&c).Elem(), "")
	c.Dir = dir
	c.Embedded = dir == ""
	c.Digest = sha256.Sum256(data)
	c.fillDefaults(d.given)
	leaves := c.validate(d)
	if len(d.problems) > 0 {
		sort.SliceStable(d.problems, func(i, j int) bool { return d.problems[i].Line < d.problems[j].Line })
		return nil, &Error{File: name, Problems: d.problems}
	}
	c.Warnings = c.lint(d, leaves)
	return &c, nil
}

// The config's own defaults. fillDefaults fills these and, for everything else, the values that
// the runtime packages (leanhttp, proxy) give their zero values, named there: one place each.
const (
	DefaultListen          = ":8080"
	DefaultLevel           = "info"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultMaxFails        = 3 // proxy's zero is "passive health off"
	DefaultRetries         = 1 // proxy's zero is "no retries"
	// DefaultMaxBody is defaults.max_body when the key is not given: a front proxy without a body
	// limit takes uploads of any size (nginx's default is 1 MiB). 0 given turns the limit off.
	DefaultMaxBody = 32 << 20
	// DefaultSample is tracing.sample when the key is not given: every new trace, as OpenTelemetry's
	// SDKs do by default (parentbased_always_on). Busy gateways set a share, like 0.1.
	DefaultSample = 1.0
	// DefaultMinSize is compress.min_size when the key is not given: smaller bodies gain little
	// (a gzip header and trailer alone are 18 bytes) and cost a buffer each.
	DefaultMinSize = 1 << 10
	// MaxMinSize bounds compress.min_size: a body of unknown length is held in memory up to it.
	MaxMinSize = 1 << 20
	// DefaultRotateMaxSize is log.rotate.max_size when the key is not given.
	DefaultRotateMaxSize = 100 << 20
)

// DefaultEncodings are compress.encodings when the key is not given: zstd first (smaller than
// gzip at the same speed), then gzip, which every client has. Brotli is left to those who list
// it: its Go encoder takes several times zstd's CPU for a like size, and precompressed .br files
// (which cost nothing to serve) are served whatever the list says.
var DefaultEncodings = []Encoding{Zstd, Gzip}

// orDefault sets *p to v when *p is the zero value.
func orDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

func fillRateLimit(rl *RateLimit) {
	if rl == nil {
		return
	}
	if rl.Burst == 0 {
		rl.Burst = max(1, int(math.Ceil(rl.RPS)))
	}
	orDefault(&rl.Replicas, 1)
}

// fillDefaults fills every default. given holds the YAML paths that were given a value, for the
// fields whose zero value is a setting of its own (retries: 0, access: false).
func (c *Config) fillDefaults(given map[string]bool) {
	orDefault(&c.Listen, DefaultListen)
	orDefault(&c.Log.Level, DefaultLevel)
	if !given["log.access"] {
		c.Log.Access = true
	}
	if f := c.Log.AccessFile; f != "" && !c.Embedded && !filepath.IsAbs(f) {
		c.Log.AccessFile = filepath.Join(c.Dir, f)
	}
	if r := c.Log.Rotate; r != nil {
		orDefault(&r.MaxSize, DefaultRotateMaxSize)
	}
	if !given["defaults.max_body"] {
		c.Defaults.MaxBody = DefaultMaxBody
	}
	for k, f := range c.ErrorPages {
		if f != "" && !c.Embedded && !filepath.IsAbs(f) {
			c.ErrorPages[k] = filepath.Join(c.Dir, f)
		}
	}
	c.fillAuth(c.Defaults.Auth)
	// In defaults, a switched-off setting is no setting (its key might as well be left out).
	c.Defaults.Headers = inherit(c.Defaults.Headers, nil)
	c.Defaults.Auth = inherit(c.Defaults.Auth, nil)
	c.Defaults.CORS = inherit(c.Defaults.CORS, nil)
	fillCompress(c.Defaults.Compress, "defaults.compress", given)
	c.Defaults.Compress = inherit(c.Defaults.Compress, nil)
	s := &c.Server
	orDefault(&s.ReadHeaderTimeout, leanhttp.DefaultReadHeaderTimeout)
	orDefault(&s.IdleTimeout, leanhttp.DefaultIdleTimeout)
	orDefault(&s.MaxHeaderBytes, leanhttp.DefaultMaxHeaderBytes)
	orDefault(&s.ShutdownTimeout, DefaultShutdownTimeout)
	fillRateLimit(c.RateLimit)
	fillRateLimit(c.Defaults.RateLimit)
	if tr := c.Tracing; tr != nil {
		if !given["tracing.sample"] {
			tr.Sample = DefaultSample
		}
		orDefault(&tr.ServiceName, DefaultServiceName)
	}
	if r := c.Redis; r != nil {
		orDefault(&r.Timeout, DefaultRedisTimeout) // a negative one is a decoding problem
		if r.PasswordFile != "" && !c.Embedded && !filepath.IsAbs(r.PasswordFile) {
			r.PasswordFile = filepath.Join(c.Dir, r.PasswordFile)
		}
	}
	if !c.Embedded {
		paths := []*string{&c.TLS.Cert, &c.TLS.Key}
		for i := range c.TLS.Certs {
			paths = append(paths, &c.TLS.Certs[i].Cert, &c.TLS.Certs[i].Key)
		}
		if a := c.TLS.ACME; a != nil {
			if a.Storage == "" {
				if dir, err := os.UserConfigDir(); err == nil {
					a.Storage = filepath.Join(dir, "frontgate", "acme")
				}
			}
			paths = append(paths, &a.CARoot, &a.Storage)
		}
		for _, p := range paths {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(c.Dir, *p)
			}
		}
	}
	if a := c.TLS.ACME; a != nil {
		orDefault(&a.Directory, DefaultACMEDirectory)
		normalizeHosts(a.Names)
	}
	for i := range c.Static {
		m := &c.Static[i]
		normalizeHosts(m.Hosts)
		if len(m.Hosts) > 0 {
			orDefault(&m.Name, m.Hosts[0]+m.Prefix) // mounts of several hosts may share a prefix
		}
		orDefault(&m.Name, m.Prefix)
		if m.Path != "" && !c.Embedded && !filepath.IsAbs(m.Path) {
			m.Path = filepath.Join(c.Dir, m.Path)
		}
		c.fillLimits(&m.Limits, fmt.Sprintf("static[%d].", i), given)
	}
	for name, u := range c.Upstreams {
		orDefault(&u.DialTimeout, proxy.DefaultDialTimeout)
		orDefault(&u.MaxIdlePerTarget, proxy.DefaultMaxIdlePerTarget)
		for i := range u.Targets {
			orDefault(&u.Targets[i].Weight, 1)
		}
		orDefault(&u.MaxFails, DefaultMaxFails)
		orDefault(&u.FailWindow, proxy.DefaultFailWindow)
		orDefault(&u.FailTimeout, proxy.DefaultFailTimeout)
		h := &u.Health
		if h.Path != "" {
			orDefault(&h.Interval, proxy.DefaultHealthInterval)
			orDefault(&h.Timeout, proxy.DefaultHealthTimeout)
			orDefault(&h.Rise, proxy.DefaultRise)
			orDefault(&h.Fall, proxy.DefaultFall)
		}
		c.Upstreams[name] = u
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		normalizeHosts(r.Hosts)
		orDefault(&r.Name, r.Path+r.PathPrefix)
		orDefault(&r.ResponseHeaderTimeout, proxy.DefaultResponseHeaderTimeout)
		orDefault(&r.TryTimeout, r.ResponseHeaderTimeout)
		orDefault(&r.DialTimeout, c.Upstreams[r.Upstream].DialTimeout)
		p := fmt.Sprintf("routes[%d].", i)
		if !given[p+"retries"] {
			r.Retries = DefaultRetries
		}
		orDefault(&r.RetryBodyMax, proxy.DefaultRetryBodyMax)
		c.fillLimits(&r.Limits, p, given)
		if r.Redirect != nil {
			orDefault(&r.Redirect.Status, http.StatusFound)
		}
	}
	if c.TLS.ACME != nil {
		c.fillACMENames() // after the hosts of routes and static mounts are normalized, above
	}
}

// fillLimits fills the policies of the route or static mount at path p (ending in "."): every key
// not given takes the defaults section's.
func (c *Config) fillLimits(l *Limits, p string, given map[string]bool) {
	d := c.Defaults
	if !given[p+"max_body"] {
		l.MaxBody = d.MaxBody
	}
	if !given[p+"max_inflight"] {
		l.MaxInflight = d.MaxInflight
	}
	if !given[p+"allow"] && !given[p+"deny"] {
		l.Allow, l.Deny = d.Allow, d.Deny
	}
	l.Headers = inherit(l.Headers, d.Headers)
	if l.Auth != nil && !l.Auth.switchedOff() {
		c.fillAuth(l.Auth)
	}
	l.Auth = inherit(l.Auth, d.Auth)
	l.CORS = inherit(l.CORS, d.CORS)
	if l.RateLimit == nil {
		l.RateLimit = d.RateLimit
	} else {
		fillRateLimit(l.RateLimit)
	}
	fillCompress(l.Compress, p+"compress", given)
	l.Compress = inherit(l.Compress, d.Compress)
}

// fillACMENames gives tls.acme.names its default when empty: every exact, valid name in hosts: of
// the routes and then the static mounts, each once (a malformed one is reported where it is given).
func (c *Config) fillACMENames() {
	a := c.TLS.ACME
	if len(a.Names) > 0 {
		return
	}
	seen := map[string]bool{}
	add := func(hosts []string) {
		for _, h := range hosts {
			if !strings.HasPrefix(h, "*.") && !seen[h] && checkHostName(h) == nil {
				seen[h] = true
				a.Names = append(a.Names, h)
			}
		}
	}
	for _, r := range c.Routes {
		add(r.Hosts)
	}
	for _, m := range c.Static {
		add(m.Hosts)
	}
}

var methodToken = regexp.MustCompile(`^[A-Z]+$`)

// problemFunc adds a problem at a YAML path (its line looked up from the path).
type problemFunc func(path, format string, args ...any)

// validate adds a problem for everything wrong in c, section by section, and returns the leaf
// certificates of the TLS pairs that loaded, for lint. Lines come from the decoder's path index; a
// missing key points at its parent.
func (c *Config) validate(d *decoder) (leaves []*x509.Certificate) {
	bad := func(path, format string, args ...any) { d.addf(path, d.lineOf(path), format, args...) }
	c.validateTop(bad)
	leaves = c.validateTLS(bad)
	c.validateLimits(bad, d.given)
	c.validateStatic(bad)
	for _, name := range slices.Sorted(maps.Keys(c.Upstreams)) {
		c.Upstreams[name].validate(bad, "upstreams."+name, d.given)
	}
	for i, r := range c.Routes {
		c.validateRoute(bad, fmt.Sprintf("routes[%d]", i), r)
	}
	return leaves
}

// validateTop checks the listeners, logging, server limits, trusted proxies and tracing.
func (c *Config) validateTop(bad problemFunc) {
	if err := checkListen(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "unknown level %q (use debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "json", "console":
	default:
		bad("log.format", "unknown format %q (use json or console)", c.Log.Format)
	}
	c.validateAccessFile(bad)
	if c.Admin.Listen != "" {
		if err := checkListen(c.Admin.Listen); err != nil {
			bad("admin.listen", "%v", err)
		} else if c.Admin.Listen == c.Listen {
			bad("admin.listen", "must differ from listen: admin endpoints are never on the public listener")
		}
	}
	for i, tp := range c.TrustedProxies {
		if _, err := middleware.ParseNetwork(tp); err != nil {
			bad(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not a CIDR like 10.0.0.0/8 or an IP address", tp)
		}
	}
	if c.Server.MaxHeaderBytes < 0 {
		bad("server.max_header_bytes", "must be positive")
	}
	if tr := c.Tracing; tr != nil {
		switch u, err := url.Parse(tr.OTLPEndpoint); {
		case tr.OTLPEndpoint == "":
			bad("tracing.otlp_endpoint", "missing; give the collector's OTLP/HTTP base URL, like http://127.0.0.1:4318")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("tracing.otlp_endpoint", "%q is not an http or https URL like http://127.0.0.1:4318", tr.OTLPEndpoint)
		case u.User != nil: // not quoted: it holds a password
			bad("tracing.otlp_endpoint", "holds user:password@; give credentials as tracing.headers (Authorization: …)")
		case u.RawQuery != "" || u.Fragment != "":
			bad("tracing.otlp_endpoint", "%q: give scheme://host:port with an optional path, nothing else", tr.OTLPEndpoint)
		}
		for _, k := range slices.Sorted(maps.Keys(tr.Headers)) {
			if !httpsyntax.Token(k) {
				bad("tracing.headers."+k, "%q is not a header field name", k)
			} else if !httpsyntax.Value(tr.Headers[k]) {
				bad("tracing.headers."+k, "the value holds a control character (CR, LF, NUL …)")
			}
		}
		if !(tr.Sample >= 0 && tr.Sample <= 1) { // NaN too
			bad("tracing.sample", "must be between 0 and 1, got %v", tr.Sample)
		}
	}
}

// validateLimits checks the gateway-wide rate limit, the defaults section and the routes' own limits.
func (c *Config) validateLimits(bad problemFunc, given map[string]bool) {
	checkRateLimit := func(p string, rl *RateLimit) {
		if rl == nil {
			return
		}
		if rl.RPS <= 0 {
			bad(p+".rps", "give a positive rate, requests per second")
		}
		if rl.Burst < 1 {
			bad(p+".burst", "must be at least 1")
		}
		if rl.Replicas < 1 {
			bad(p+".replicas", "must be at least 1")
		}
		if rl.Store == RedisStore && c.Redis == nil {
			bad(p+".store", "store: redis needs the top-level redis: block, like redis: {addr: \"127.0.0.1:6379\"}")
		}
	}
	c.validateRedis(bad)
	checkRateLimit("rate_limit", c.RateLimit)
	if c.Defaults.MaxBody < 0 {
		bad("defaults.max_body", "must not be negative")
	}
	if c.Defaults.MaxInflight < 0 {
		bad("defaults.max_inflight", "must not be negative")
	}
	checkNetworks := func(p string, allow, deny []Network) {
		if len(allow) > 0 && len(deny) > 0 {
			bad(p+".deny", "give allow or deny, not both")
		}
	}
	checkNetworks("defaults", c.Defaults.Allow, c.Defaults.Deny)
	checkHeaders(bad, "defaults.headers", c.Defaults.Headers)
	checkErrorPages(bad, c.ErrorPages)
	checkAuth(bad, "defaults.auth", c.Defaults.Auth)
	checkCORS(bad, "defaults.cors", c.Defaults.CORS)
	checkCompress(bad, "defaults.compress", c.Defaults.Compress)
	checkRateLimit("defaults.rate_limit", c.Defaults.RateLimit)
	checkOwn := func(p string, l Limits) {
		if l.RateLimit != c.Defaults.RateLimit {
			checkRateLimit(p+".rate_limit", l.RateLimit)
		}
		if given[p+".max_inflight"] && l.MaxInflight < 0 {
			bad(p+".max_inflight", "must not be negative")
		}
		if given[p+".allow"] || given[p+".deny"] {
			checkNetworks(p, l.Allow, l.Deny)
		}
		if given[p+".headers"] {
			checkHeaders(bad, p+".headers", l.Headers)
		}
		if given[p+".auth"] {
			checkAuth(bad, p+".auth", l.Auth)
		}
		if given[p+".cors"] {
			checkCORS(bad, p+".cors", l.CORS)
		}
		if given[p+".compress"] {
			checkCompress(bad, p+".compress", l.Compress)
		}
	}
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		checkOwn(p, r.Limits)
		checkRewrite(bad, p, r.Rewrite, given)
	}
	for i, m := range c.Static {
		checkOwn(fmt.Sprintf("static[%d]", i), m.Limits)
	}
}

// validateAccessFile checks that the access log's file can be written (its folder exists and may be
// written in, the file, if there, is a writable file) and that rotation has a file and settings the
// rotation can keep: it counts whole MiB and whole days.
func (c *Config) validateAccessFile(bad problemFunc) {
	if f := c.Log.AccessFile; f != "" {
		if err := checkWritableFile(f); err != nil {
			bad("log.access_file", "%v", err)
		}
	}
	r := c.Log.Rotate
	if r == nil {
		return
	}
	if c.Log.AccessFile == "" {
		bad("log.rotate", "rotates log.access_file: give access_file too, or leave rotate out")
	}
	switch {
	case r.MaxSize < 1<<20:
		bad("log.rotate.max_size", "must be at least 1MiB, got %d bytes", r.MaxSize)
	case r.MaxSize%(1<<20) != 0:
		bad("log.rotate.max_size", "must be a whole number of MiB, like \"100MiB\" (rotation counts MiB), got %d bytes", r.MaxSize)
	}
	if r.MaxBackups < 0 {
		bad("log.rotate.max_backups", "must not be negative, got %d", r.MaxBackups)
	}
	if r.MaxAge%(24*time.Hour) != 0 {
		bad("log.rotate.max_age", "must be a whole number of days, like \"30d\" (rotation counts days), got %v", r.MaxAge)
	}
}

// checkWritableFile says why path cannot be opened for appending, or nil: the folder must exist and
// allow writing, and a file already there must be a writable regular file.
func checkWritableFile(path string) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("folder %q does not exist", dir)
		}
		return fmt.Errorf("cannot use folder %q: %w", dir, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("%q is a file, not a folder", dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("folder %q is not writable: %w", dir, err)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("cannot use %q: %w", path, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%q is not a regular file", path)
	}
	if err := unix.Access(path, unix.W_OK); err != nil {
		return fmt.Errorf("%q is not writable: %w", path, err)
	}
	return nil
}

// validateRedis checks the redis block without connecting: an address, a readable password file, a
// database number and a timeout a request can afford.
func (c *Config) validateRedis(bad problemFunc) {
	r := c.Redis
	if r == nil {
		return
	}
	if r.Addr == "" {
		bad("redis.addr", "missing; give the Redis server's host:port, like 127.0.0.1:6379")
	} else if host, port, err := net.SplitHostPort(r.Addr); err != nil || host == "" {
		bad("redis.addr", "%q is not host:port, like 127.0.0.1:6379", r.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		bad("redis.addr", "%q has no valid port", r.Addr)
	}
	if r.PasswordFile != "" {
		if _, err := ReadRedisPassword(r.PasswordFile); err != nil {
			bad("redis.password_file", "%v", err)
		}
	}
	if r.DB < 0 {
		bad("redis.db", "must not be negative")
	}
	if r.Timeout <= 0 || r.Timeout > MaxRedisTimeout {
		bad("redis.timeout", "%v: give more than 0 and at most %v", r.Timeout, MaxRedisTimeout)
	}
}

// UsesRedis reports whether a rate limit of c (gateway-wide, in defaults, on a route or a static
// mount) keeps its buckets in Redis.
func (c *Config) UsesRedis() bool {
	uses := func(rl *RateLimit) bool { return rl != nil && rl.Store == RedisStore }
	if uses(c.RateLimit) || uses(c.Defaults.RateLimit) {
		return true
	}
	for _, r := range c.Routes {
		if uses(r.RateLimit) {
			return true
		}
	}
	for _, m := range c.Static {
		if uses(m.RateLimit) {
			return true
		}
	}
	return false
}

// ReadRedisPassword reads the password in the file at path: its content without a final newline.
func ReadRedisPassword(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the password: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if pw == "" {
		return "", fmt.Errorf("%s is empty; leave password_file out for no password", path)
	}
	return pw, nil
}

// validateStatic checks the static mounts: clean distinct prefixes, distinct names, existing folders.
func (c *Config) validateStatic(bad problemFunc) {
	prefixes := map[string][]int{} // prefix -> the mounts with it
	names := map[string]int{}
	for i, m := range c.Static {
		p := fmt.Sprintf("static[%d]", i)
		checkHosts(bad, p, m.Hosts)
		switch {
		case m.Prefix == "":
			bad(p+".prefix", "missing; give the URL prefix, like /css/")
		case !strings.HasPrefix(m.Prefix, "/") || !strings.HasSuffix(m.Prefix, "/"):
			bad(p+".prefix", "%q must start and end with \"/\", like /css/", m.Prefix)
		case strings.Contains(m.Prefix, "//") || strings.Contains(m.Prefix, "/../") || strings.Contains(m.Prefix, "/./"):
			bad(p+".prefix", "%q is not a clean URL path", m.Prefix)
		default:
			for _, j := range prefixes[m.Prefix] {
				if hostsOverlap(m.Hosts, c.Static[j].Hosts) {
					bad(p+".prefix", "%q is already mounted by static[%d]", m.Prefix, j)
					break
				}
			}
			prefixes[m.Prefix] = append(prefixes[m.Prefix], i)
		}
		if j, dup := names[m.Name]; dup && m.Name != "" {
			bad(p+".name", "%q is already the name of static[%d]", m.Name, j)
		}
		names[m.Name] = i
		switch {
		case m.Path == "":
			bad(p+".path", "missing; give the folder to serve")
		case c.Embedded:
			if !validEmbeddedPath(m.Path) {
				bad(p+".path", "%q is not a folder of the embedded site", m.Path)
			}
		default:
			if fi, err := os.Stat(m.Path); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					bad(p+".path", "folder %q does not exist", m.Path)
				} else {
					bad(p+".path", "cannot use folder %q: %v", m.Path, err)
				}
			} else if !fi.IsDir() {
				bad(p+".path", "%q is a file, not a folder", m.Path)
			}
		}
	}
}

// validate checks one upstream pool found at path p.
func (u Pool) validate(bad problemFunc, p string, given map[string]bool) {
	switch {
	case len(u.Targets) == 0 && u.Builtin == "" && !(given[p+".targets"] && u.Targets == nil): // unreadable: said already
		bad(p, "give targets (like [\"http://127.0.0.1:9000\"]) or builtin: echo")
	case len(u.Targets) > 0 && u.Builtin != "":
		bad(p, "give either targets or builtin, not both")
	case u.Builtin != "" && u.Builtin != "echo":
		bad(p+".builtin", "unknown builtin upstream %q (the one there is: echo)", u.Builtin)
	}
	for i, t := range u.Targets {
		tp := fmt.Sprintf("%s.targets[%d]", p, i)
		if err := checkTarget(t.URL); err != nil {
			bad(tp, "%v", err)
		}
		if t.Weight < 1 || t.Weight > 1000 {
			bad(tp+".weight", "must be between 1 and 1000, got %d", t.Weight)
		}
		if u.H2C && u.Builtin == "" && strings.HasPrefix(t.URL, "https:") {
			bad(tp, "h2c is HTTP/2 without TLS: use http:// targets")
		}
	}
	if u.MaxIdlePerTarget < 0 {
		bad(p+".max_idle_per_target", "must be positive")
	}
	if u.Balance != Hash && given[p+".hash_key"] {
		bad(p+".hash_key", "only works with balance: hash")
	}
	h := u.Health
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		bad(p+".health.path", "%q must start with \"/\"", h.Path)
	}
	if h.Path == "" && (h.Interval != 0 || h.Timeout != 0 || h.ExpectStatus != 0 || h.Rise != 0 || h.Fall != 0) {
		bad(p+".health", "give a path to check, or leave health out")
	}
	if h.ExpectStatus != 0 && (h.ExpectStatus < 100 || h.ExpectStatus > 599) {
		bad(p+".health.expect_status", "%d is not an HTTP status", h.ExpectStatus)
	}
	if h.Rise < 0 || h.Fall < 0 {
		bad(p+".health", "rise and fall must be positive")
	}
}

// validateRoute checks one route found at path p.
func (c *Config) validateRoute(bad problemFunc, p string, r Route) {
	checkHosts(bad, p, r.Hosts)
	switch {
	case r.Path == "" && r.PathPrefix == "":
		bad(p, "give path or path_prefix")
	case r.Path != "" && r.PathPrefix != "":
		bad(p, "give either path or path_prefix, not both")
	case r.Path != "" && !strings.HasPrefix(r.Path, "/"):
		bad(p+".path", "%q must start with \"/\"", r.Path)
	case r.PathPrefix != "" && !strings.HasPrefix(r.PathPrefix, "/"):
		bad(p+".path_prefix", "%q must start with \"/\"", r.PathPrefix)
	}
	if r.Retries < 0 || r.Retries > 10 {
		bad(p+".retries", "must be between 0 and 10, got %d", r.Retries)
	}
	if r.TryTimeout > r.ResponseHeaderTimeout {
		bad(p+".try_timeout", "%v is longer than response_header_timeout (%v)", r.TryTimeout, r.ResponseHeaderTimeout)
	}
	if r.StripPrefix && r.PathPrefix == "" {
		bad(p+".strip_prefix", "only works with path_prefix")
	}
	for j, m := range r.Methods {
		if !methodToken.MatchString(m) {
			bad(fmt.Sprintf("%s.methods[%d]", p, j), "%q is not a method; write methods in upper case, like POST", m)
		}
	}
	if r.Redirect != nil {
		c.validateRedirect(bad, p, r)
		return
	}
	switch _, ok := c.Upstreams[r.Upstream]; {
	case r.Upstream == "":
		bad(p+".upstream", "missing; name one of upstreams (%s)", strings.Join(slices.Sorted(maps.Keys(c.Upstreams)), ", "))
	case !ok:
		if near := closest(r.Upstream, c.Upstreams); near != "" {
			bad(p+".upstream", "unknown upstream %q (did you mean %q?)", r.Upstream, near)
		} else {
			bad(p+".upstream", "unknown upstream %q", r.Upstream)
		}
	}
}

// validateTLS checks the certificates (each pair given whole, loading, not expired), default_sni, the
// redirect listener and tls.acme.
// validateTLS checks tls and returns the leaves of the certificate pairs that loaded.
func (c *Config) validateTLS(bad problemFunc) (leaves []*x509.Certificate) {
	t := c.TLS
	loaded := true // every pair given has loaded
	check := func(p string, pair CertPair) {
		switch {
		case pair.Cert == "":
			bad(p+"cert", "missing; give the certificate file with the key")
		case pair.Key == "":
			bad(p+"key", "missing; give the key file with the certificate")
		default:
			leaf, err := loadLeaf(pair)
			switch {
			case err != nil && certFileReads(pair.Cert):
				bad(p+"key", "cannot load the key for the certificate: %v", err) // the key is at fault
			case err != nil:
				bad(p+"cert", "cannot load the certificate and key: %v", err)
			case time.Now().After(leaf.NotAfter):
				bad(p+"cert", "the certificate expired on %s (notAfter)", leaf.NotAfter.UTC().Format(time.RFC3339))
			default:
				leaves = append(leaves, leaf)
				return
			}
		}
		loaded = false
	}
	if t.Cert != "" || t.Key != "" {
		check("tls.", CertPair{Cert: t.Cert, Key: t.Key})
	}
	for i, pair := range t.Certs {
		check(fmt.Sprintf("tls.certs[%d].", i), pair)
	}
	none := t.Cert == "" && t.Key == "" && len(t.Certs) == 0 && t.ACME == nil
	if t.DefaultSNI != "" {
		covers := func(l *x509.Certificate) bool { return l.VerifyHostname(t.DefaultSNI) == nil }
		switch {
		case none:
			bad("tls.default_sni", "needs a certificate: give tls.cert and tls.key or tls.certs")
		case net.ParseIP(t.DefaultSNI) != nil:
			bad("tls.default_sni", "%q is an IP address; give a DNS name one of the certificates covers", t.DefaultSNI)
		case !loaded || slices.ContainsFunc(leaves, covers):
		case t.ACME == nil:
			bad("tls.default_sni", "%q is not a name any of the certificates covers", t.DefaultSNI)
		case !slices.Contains(t.ACME.Names, strings.TrimSuffix(strings.ToLower(t.DefaultSNI), ".")):
			bad("tls.default_sni", "%q is not a name any of the certificates or tls.acme.names covers", t.DefaultSNI)
		}
	}
	switch {
	case t.RedirectHTTP == "":
	case none:
		bad("tls.redirect_http", "needs tls.cert and tls.key: it redirects to https")
	default:
		if err := checkListen(t.RedirectHTTP); err != nil {
			bad("tls.redirect_http", "%v", err)
		}
	}
	if t.ACME != nil {
		c.validateACME(bad)
	}
	return leaves
}

// validateACME checks tls.acme: an email address, an https directory, a ca_root of PEM certificates,
// a storage folder, the challenge listener, exact host names and an http(s) ask URL.
func (c *Config) validateACME(bad problemFunc) {
	a := c.TLS.ACME
	if a.Email != "" {
		if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Address != a.Email {
			bad("tls.acme.email", "%q is not an email address like ops@example.com", a.Email)
		}
	}
	if u, err := url.Parse(a.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
		bad("tls.acme.directory", "%q is not an https URL like %s", a.Directory, DefaultACMEDirectory)
	}
	if a.CARoot != "" {
		if err := checkPEMCertificates(a.CARoot); err != nil {
			bad("tls.acme.ca_root", "%v", err)
		}
	}
	if a.Storage == "" {
		_, err := os.UserConfigDir()
		bad("tls.acme.storage", "missing, and there is no default (%v); give a folder", err)
	}
	if a.HTTPListen != "" {
		switch err := checkListen(a.HTTPListen); {
		case err != nil:
			bad("tls.acme.http_listen", "%v", err)
		case a.HTTPListen == c.Listen:
			bad("tls.acme.http_listen", "must differ from listen: the public listener speaks TLS")
		case a.HTTPListen == c.Admin.Listen:
			bad("tls.acme.http_listen", "must differ from admin.listen: admin endpoints are never on a public listener")
		}
	}
	seen := map[string]int{}
	for i, name := range a.Names {
		p := fmt.Sprintf("tls.acme.names[%d]", i)
		switch err := checkHostName(name); {
		case err != nil:
			bad(p, "%v", err)
		case strings.HasPrefix(name, "*."):
			bad(p, "%q is a wildcard: HTTP-01 and TLS-ALPN-01 cannot prove one (that takes DNS-01); give exact names, or a certificate file for the wildcard", name)
		case net.ParseIP(name) != nil:
			bad(p, "%q is an IP address; give host names", name)
		default:
			if j, dup := seen[name]; dup {
				bad(p, "%q is already names[%d]", name, j)
			}
			seen[name] = i
		}
	}
	if len(a.Names) == 0 && a.OnDemand == nil {
		bad("tls.acme", "no names to get certificates for: give tls.acme.names, exact hosts: on routes or static mounts, or on_demand")
	}
	if d := a.OnDemand; d != nil {
		switch u, err := url.Parse(d.Ask); {
		case d.Ask == "":
			bad("tls.acme.on_demand.ask", "missing; give the URL that answers 200 for the names that may get a certificate")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("tls.acme.on_demand.ask", "%q is not an http or https URL", d.Ask)
		}
	}
}

// checkPEMCertificates makes sure the file at path holds PEM certificates, at least one, all parsing.
func checkPEMCertificates(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read the certificates: %w", err)
	}
	n := 0
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("%s: certificate %d does not parse: %w", path, n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s holds no PEM certificate", path)
	}
	return nil
}

// loadLeaf loads a certificate and its key and returns the certificate.
// unclosed is the last flow bracket ({ or [) that line opens and does not close, outside quotes and
// comments; 0 when it closes them all.
func unclosed(line string) byte {
	var stack []byte
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' '):
			i = len(line)
		case c == '{' || c == '[':
			stack = append(stack, c)
		case (c == '}' || c == ']') && len(stack) > 0:
			if top := stack[len(stack)-1]; top == '{' && c == ']' || top == '[' && c == '}' {
				return top // closed by the other kind: top is the one left open
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) == 0 {
		return 0
	}
	return stack[len(stack)-1]
}

// certFileReads reports whether path holds a certificate that parses, so that a pair that does not
// load is the key's fault.
func certFileReads(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return false
	}
	_, err = x509.ParseCertificate(block.Bytes)
	return err == nil
}

func loadLeaf(pair CertPair) (*x509.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(pair.Cert, pair.Key)
	if err != nil {
		return nil, err
	}
	if cert.Leaf != nil {
		return cert.Leaf, nil
	}
	return x509.ParseCertificate(cert.Certificate[0])
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port, like 127.0.0.1:8080 or :8080", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port", addr)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Errorf("%q: listen on an IP address, localhost or all interfaces (:port)", addr)
	}
	return nil
}

func checkTarget(t string) error {
	u, err := url.Parse(t)
	if err != nil {
		return fmt.Errorf("%q is not a URL", t)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: the scheme must be http or https", t)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", t)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: a target is scheme://host:port with an optional path, nothing else", t)
	}
	return nil
}

// validEmbeddedPath accepts the clean slash paths fs.FS uses ("css", "font", ".").
func validEmbeddedPath(p string) bool {
	return p == "." || (!strings.HasPrefix(p, "/") && !strings.Contains(p, "..") && !strings.HasSuffix(p, "/"))
}
