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
	Upstreams map[string]Pool `yaml:"upstreams"`
	// Routes forwards matching requests to an upstream pool; the first match wins.
	Routes []Route `yaml:"routes"`
	// Admin is the private listener for health, readiness, metrics, the running config and pprof.
	// Without a listen address there is none. Never on the public listener.
	Admin Admin `yaml:"admin"`
	// Watch reloads the config when its file changes (checked every second). SIGHUP always reloads.
	Watch bool `yaml:"watch"`
	// TLS serves the public listener over HTTPS (HTTP/2 and HTTP/1.1) with these certificates.
	TLS TLS `yaml:"tls"`
	// H2C also speaks HTTP/2 without TLS on a plain public listener. Default false.
	H2C bool `yaml:"h2c"`
	// RateLimit limits the whole gateway, before routing; unset: no gateway-wide limit.
	RateLimit *RateLimit `yaml:"rate_limit"`
	// Redis is the server that rate limits with store: redis share their buckets in, so that replicas
	// of the gateway enforce one limit between them. Nil (the key left out): none; store: redis then
	// is a problem. check validates it without connecting.
	Redis *Redis `yaml:"redis"`
	// Defaults are the limits every route, static mount and demo route gets unless a route sets its own.
	Defaults Limits `yaml:"defaults"`
	// ErrorPages are HTML files for the error answers frontgate makes itself, by status ("404") or
	// class ("4xx", "5xx"), for clients that accept HTML; everyone else gets the JSON error shape.
	// "{status}" and "{request_id}" in a page are replaced. Relative to the config's folder.
	ErrorPages map[string]string `yaml:"error_pages"`
	// TrustedProxies lists CIDRs (or single addresses) of proxies in front of frontgate. Only from
	// those is a client's X-Forwarded-For kept and extended; from anyone else it is replaced. Empty:
	// nobody is trusted.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Tracing exports OpenTelemetry traces of the requests served to an OTLP/HTTP collector; nil (the
	// key left out): no tracing, and nothing of it on the request path.
	Tracing *Tracing `yaml:"tracing"`

	// Dir is the folder that relative static paths resolve against: the config file's folder. Empty
	// means the embedded default, whose static paths name folders of the embedded demo site.
	Dir string `yaml:"-"`
	// Embedded is true for the built-in default config.
	Embedded bool `yaml:"-"`
	// Digest is the SHA-256 of the YAML text the config was parsed from.
	Digest [32]byte `yaml:"-"`
	// Warnings lists what a valid config holds that is likely a mistake (a route that can never
	// match, a host no certificate covers), in file order; check prints them, serve logs them.
	Warnings []Problem `yaml:"-"`
}

// DefaultServiceName is tracing.service_name's default.
const DefaultServiceName = "frontgate"

// Tracing configures OpenTelemetry tracing (tracing in YAML): one server span per request, a client
// span per upstream try, W3C trace context (traceparent, tracestate) taken only from trusted_proxies
// and sent upstream. Spans go in batches over OTLP/HTTP (protobuf).
type Tracing struct {
	// OTLPEndpoint is the collector's base URL, http or https, like http://127.0.0.1:4318; spans are
	// posted to its path + /v1/traces. Required.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// Sample is the share of new traces recorded and exported, 0 to 1, decided by trace id. A request
	// whose trusted caller sent a traceparent follows the caller's sampled flag instead. Default 1
	// (when the key is not given, as OpenTelemetry's own default); 0: only traces a caller sampled.
	Sample float64 `yaml:"sample"`
	// ServiceName is the resource's service.name. Default "frontgate".
	ServiceName string `yaml:"service_name"`
	// Headers are sent with every export, like a collector's API key (Authorization,
	// X-Honeycomb-Team); their values are never shown by /config. Empty: none.
	Headers map[string]string `yaml:"headers" redact:"true"`
}

// Admin configures the admin listener.
type Admin struct {
	// Listen is the admin address, like 127.0.0.1:9901; empty: no admin listener.
	Listen string `yaml:"listen"`
}

// TLS names the public listener's certificates and keys, PEM files (relative paths resolve against the
// config's folder), and automatic certificates (ACME). No certificate file and no acme (the zero value):
// plain HTTP. Each handshake gets the certificate that covers the name the client asks for (SNI): a
// file's (exact names, then wildcards), else ACME's, else the default. The files are read again on
// every reload, and while TLS is on a changed file is picked up within a second or so, without a reload.
type TLS struct {
	// Cert and Key are a certificate and its key; both empty: none. Given with Certs, this pair is the
	// first certificate.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key" redact:"true"`
	// Certs lists more certificates; each serves the names (DNS SANs) in it. Empty: only Cert and Key.
	Certs []CertPair `yaml:"certs"`
	// DefaultSNI picks the certificate for clients that send no SNI, an IP address or a name no
	// certificate covers: a file's that covers this name, else ACME's when it is one of acme.names.
	// Empty: the first certificate file (Cert if given, else Certs[0]), else ACME's for the first of
	// acme.names.
	DefaultSNI string `yaml:"default_sni"`
	// RedirectHTTP is an optional plain listener (like :80) that redirects every request to https.
	RedirectHTTP string `yaml:"redirect_http"`
	// ACME obtains and renews certificates automatically for the names no certificate file covers
	// (a file is the operator's override). Nil (the key left out): none. With it TLS is on even
	// without certificate files. Giving it agrees to the CA's terms of service.
	ACME *ACME `yaml:"acme"`
}

// DefaultACMEDirectory is Let's Encrypt's production ACME directory, tls.acme.directory's default.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// ACME configures automatic certificates (tls.acme in YAML). The CA proves each name over HTTP-01 (a
// plain request to port 80, answered by HTTPListen) or TLS-ALPN-01 (a handshake on port 443,
// answered by the public listener); neither can prove a wildcard, so every name is exact.
// Certificates renew by themselves well before they expire.
type ACME struct {
	// Email is the ACME account's contact address, where the CA writes about problems with the
	// certificates. Empty: an account without one.
	Email string `yaml:"email"`
	// Directory is the ACME directory's https URL. Default: DefaultACMEDirectory (Let's Encrypt).
	Directory string `yaml:"directory"`
	// CARoot is a PEM file of root certificates to trust, besides the system's, when talking to the
	// directory (a private ACME CA); relative to the config's folder. Empty: the system's roots.
	CARoot string `yaml:"ca_root"`
	// Storage is the folder that keeps the account, the keys, the certificates and the locks;
	// replicas sharing it share certificates, and one orders while the others wait. Relative to the
	// config's folder. Default: os.UserConfigDir()/frontgate/acme ($XDG_CONFIG_HOME/frontgate/acme
	// or ~/.config/frontgate/acme on Linux).
	Storage string `yaml:"storage"`
	// HTTPListen is a plain listener (like :80) that answers HTTP-01 challenges and redirects every
	// other request to https. It may be redirect_http's address: one listener does both. Empty: no
	// HTTP-01; certificates come over TLS-ALPN-01 on the public listener, which the CA must reach on
	// port 443.
	HTTPListen string `yaml:"http_listen"`
	// Names are the exact host names to get certificates for from the start. Empty: every exact name
	// in hosts: of the routes and static mounts (wildcards are left out).
	Names []string `yaml:"names"`
	// OnDemand also gets a certificate at the first handshake for a name not in Names, when its ask
	// endpoint allows that name. Nil: only Names.
	OnDemand *OnDemand `yaml:"on_demand"`
}

// OnDemand is on-demand issuance (tls.acme.on_demand in YAML).
type OnDemand struct {
	// Ask is an http or https URL asked GET Ask?domain=NAME before a certificate is ordered for NAME
	// at a handshake: 200 allows it, any other answer or no answer refuses. Required.
	Ask string `yaml:"ask"`
}

// On reports whether the public listener speaks TLS: a certificate file or acme is given.
func (t *TLS) On() bool { return len(t.Pairs()) > 0 || t.ACME != nil }

// CertPair is a certificate and its key, PEM files (an entry of tls.certs in YAML).
type CertPair struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key" redact:"true"`
}

// Pairs lists every certificate and key in order: Cert and Key first when either is given, then Certs.
// Empty: no certificate file (TLS is off unless ACME is given).
func (t *TLS) Pairs() []CertPair {
	var pairs []CertPair
	if t.Cert != "" || t.Key != "" {
		pairs = append(pairs, CertPair{Cert: t.Cert, Key: t.Key})
	}
	return append(pairs, t.Certs...)
}

// Limits are the policies of the defaults section, a route or a static mount: protections and edge
// policies. Zero values mean no limit and no policy.
type Limits struct {
	// MaxBody is the largest request body accepted (413 past it). Zero: no limit. In defaults, a
	// key not given is DefaultMaxBody (32 MiB).
	MaxBody ByteSize `yaml:"max_body"`
	// MaxInflight is how many requests the route serves at once (503 past it). Zero: no limit.
	MaxInflight int `yaml:"max_inflight"`
	// RateLimit limits the request rate; unset: none.
	RateLimit *RateLimit `yaml:"rate_limit"`
	// Headers changes request and response header fields; nil: none.
	Headers *Headers `yaml:"headers"`
	// Auth asks clients to authenticate; nil: nobody is asked.
	Auth *Auth `yaml:"auth"`
	// CORS lets pages of other origins call the route from a browser; nil: no CORS answers.
	CORS *CORS `yaml:"cors"`
	// Compress compresses answers on the fly, and has static mounts serve precompressed siblings
	// (x.css.br beside x.css); nil: neither. `compress: true` in YAML is on with the defaults,
	// `compress: false` off.
	Compress *Compress `yaml:"compress"`
	// Allow admits only clients inside these networks (CIDRs or addresses; the client address
	// honours trusted_proxies); others get 403 before any other work. Empty: everyone.
	Allow []Network `yaml:"allow"`
	// Deny refuses clients inside these networks with 403. Give Allow or Deny, not both.
	Deny []Network `yaml:"deny"`
}

// RateLimit is a token bucket: RPS tokens a second, up to Burst at once, per Key.
type RateLimit struct {
	// RPS is the sustained rate, requests per second (may be fractional). Required.
	RPS float64 `yaml:"rps"`
	// Burst is how many requests may come at once. Default: RPS rounded up, at least 1.
	Burst int `yaml:"burst"`
	// Key splits the limit: client_ip (default; honours trusted_proxies), header:NAME, or global.
	Key RateKey `yaml:"key"`
	// Store keeps the buckets: local (default, this process's memory) or redis (the top-level redis
	// server, shared by every replica using it).
	Store RateStore `yaml:"store"`
	// OnStoreError is what a request gets while Redis fails or is slower than redis.timeout: local
	// (default: a bucket in this process of RPS/Replicas and Burst/Replicas rounded up), allow or deny
	// (429). Only with store: redis.
	OnStoreError StoreErrorPolicy `yaml:"on_store_error"`
	// Replicas is how many gateway processes share the limit, for on_store_error: local. Default 1.
	Replicas int `yaml:"replicas"`
}

// DefaultRedisTimeout is redis.timeout when the key is not given.
const DefaultRedisTimeout = 20 * time.Millisecond

// MaxRedisTimeout is the longest redis.timeout: a request never waits longer for its rate limit.
const MaxRedisTimeout = time.Second

// Redis is the Redis server of store: redis rate limits (redis in YAML).
type Redis struct {
	// Addr is the server's host:port. Required.
	Addr string `yaml:"addr"`
	// PasswordFile is a file holding the password (AUTH), relative to the config's folder; a final
	// newline is not part of it. Empty: no password.
	PasswordFile string `yaml:"password_file"`
	// DB is the database number (SELECT). Default 0.
	DB int `yaml:"db"`
	// Timeout bounds each rate-limit call to Redis, dialing included; past it the request is decided
	// by on_store_error. At most 1s; 0 (or the key left out) means 20ms.
	Timeout time.Duration `yaml:"timeout"`
}

// Log configures the two logs: the process log (stderr) and the access log (stdout, or AccessFile).
type Log struct {
	// Level is debug, info, warn or error, for both logs. Default info.
	Level string `yaml:"level"`
	// Format is json or console. Empty: console where the log goes to a terminal, json otherwise.
	Format string `yaml:"format"`
	// Access writes one access-log line per request. Default true (when the key is not given).
	Access bool `yaml:"access"`
	// AccessFile is the access log's file, relative to the config's folder; the folder must exist and
	// be writable. Empty: the access log goes to stdout. SIGUSR1 closes the file and opens the path
	// again (for an external logrotate).
	AccessFile string `yaml:"access_file"`
	// Rotate has frontgate rotate AccessFile itself; nil: the file grows until something else moves it.
	Rotate *Rotate `yaml:"rotate"`
}

// Rotate rotates the access-log file by size: the full file is renamed with its rotation time
// (access-2026-01-02T03-04-05.000.log) and a new one started. Zero fields take the defaults below.
type Rotate struct {
	// MaxSize is the size a file may reach before it is rotated: whole MiB, at least 1MiB. 0: 100MiB.
	MaxSize ByteSize `yaml:"max_size"`
	// MaxBackups is how many rotated files to keep, the oldest removed first. 0: every one.
	MaxBackups int `yaml:"max_backups"`
	// MaxAge removes rotated files older than this, by the time in their names: whole days, like "30d".
	// 0: no age limit.
	MaxAge time.Duration `yaml:"max_age"`
	// Compress gzips rotated files (in the background, after the rotation). Default false.
	Compress bool `yaml:"compress"`
}

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
	// ShutdownDelay is how long the listeners keep serving after SIGINT/SIGTERM while /readyz already
	// answers 503, so that a balancer or Kubernetes takes the replica out before it stops accepting;
	// the drain follows. Zero (the default): the drain starts at once.
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
	// Engine serves plain-HTTP public listeners: lean (default; frontgate's HTTP/1.1 server, one
	// write per response) or stdlib (net/http's server). TLS and h2c always use net/http for HTTP/2.
	Engine Engine `yaml:"engine"`
}

// Static is a folder served under a URL prefix (the seed's add_static(prefix, path, name, show_index)).
type Static struct {
	// Hosts restricts the mount to these host names (see Route.Hosts); empty: every host.
	Hosts []string `yaml:"hosts"`
	// Prefix is the URL prefix, starting and ending with "/".
	Prefix string `yaml:"prefix"`
	// Path is the folder, relative to the config file's folder unless absolute.
	Path string `yaml:"path"`
	// Name makes the mount addressable (route name, logs). Default: the prefix, after the first of
	// Hosts when there are hosts (docs.example.com/).
	Name string `yaml:"name"`
	// ShowIndex answers folder URLs with an HTML listing; off by default.
	ShowIndex bool `yaml:"show_index"`
	// Limits are the mount's policies, as a route's: each key not given takes the defaults section's.
	Limits `yaml:",inline"`
}

// Pool is an upstream pool of targets (an entry of upstreams in YAML). Exactly one of Targets and
// Builtin is set.
type Pool struct {
	// Targets are base URLs (http://host:port); each may carry a weight: {url: …, weight: 3}.
	Targets []Target `yaml:"targets"`
	// Builtin names an upstream that frontgate runs itself on a loopback port: "echo" answers with what
	// it received. Used by the embedded default so /demo2 works on a fresh machine.
	Builtin string `yaml:"builtin"`
	// Balance picks a target per request: round_robin (default, by weight), least_conn, random (power
	// of two choices) or hash (consistent, by HashKey).
	Balance Balance `yaml:"balance"`
	// HashKey is what balance: hash hashes: client_ip (default), header:NAME or cookie:NAME.
	HashKey HashKey `yaml:"hash_key" redact:"false"`
	// Health configures active health checks; without a path there are none.
	Health Health `yaml:"health"`
	// MaxFails failures within FailWindow eject a target for FailTimeout (passive health). Default 3;
	// a negative value turns passive health off.
	MaxFails int `yaml:"max_fails"`
	// FailWindow is the window MaxFails counts in. Default 10s.
	FailWindow time.Duration `yaml:"fail_window"`
	// FailTimeout is how long an ejected target sits out. Default 30s.
	FailTimeout time.Duration `yaml:"fail_timeout"`
	// DialTimeout bounds connecting to a target. Default 5s; a route may set its own.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// MaxIdlePerTarget is the keep-alive pool size per target. Default 256.
	MaxIdlePerTarget int `yaml:"max_idle_per_target"`
	// H2C speaks HTTP/2 without TLS to the targets (they must support it). Default false: HTTP/1.1.
	H2C bool `yaml:"h2c"`
}

// Target is one upstream target. In YAML it is a URL string, or {url, weight}.
type Target struct {
	// URL is the target's base URL.
	URL string `yaml:"url"`
	// Weight is the target's share of requests relative to the others. Default 1.
	Weight int `yaml:"weight"`
}

// Health configures active health checks of a pool's targets.
type Health struct {
	// Path is requested with GET on each target; empty turns active checks off.
	Path string `yaml:"path"`
	// Interval between checks of a target. Default 5s.
	Interval time.Duration `yaml:"interval"`
	// Timeout of one check. Default 2s.
	Timeout time.Duration `yaml:"timeout"`
	// ExpectStatus is the status a healthy target answers. Default: any 2xx.
	ExpectStatus int `yaml:"expect_status"`
	// Rise is how many passing checks in a row bring a target back. Default 2.
	Rise int `yaml:"rise"`
	// Fall is how many failing checks in a row take a target out. Default 3.
	Fall int `yaml:"fall"`
}

// Route forwards requests to an upstream pool. Exactly one of Path and PathPrefix is set.
type Route struct {
	// Hosts restricts the route to requests for these host names: exact names (app.example.com) or
	// one leading wildcard label (*.example.com matches a.example.com, not example.com nor
	// a.b.example.com). Case-insensitive, without the port; IDNs in their A-label (xn--) form.
	// The most specific host wins: exact names, then wildcards, then routes without hosts. Empty:
	// every host.
	Hosts []string `yaml:"hosts"`
	// Path matches this exact URL path.
	Path string `yaml:"path"`
	// PathPrefix matches every URL path that starts with it at a segment boundary: /b matches /b
	// and /b/x, never /bxyz (a prefix ending in "/" matches what starts with it).
	PathPrefix string `yaml:"path_prefix"`
	// StripPrefix removes PathPrefix from the forwarded path (only with path_prefix).
	StripPrefix bool `yaml:"strip_prefix"`
	// Methods restricts the route to these methods; empty matches all.
	Methods []string `yaml:"methods"`
	// Upstream names the pool in Config.Upstreams.
	Upstream string `yaml:"upstream"`
	// Name appears in access logs. Default: the path or prefix.
	Name string `yaml:"name"`
	// Host is the Host header sent upstream: "upstream" (default, the target's host) or "preserve"
	// (the client's).
	Host HostHeader `yaml:"host"`
	// DialTimeout bounds connecting to a target. Default: the upstream's dial_timeout.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// ResponseHeaderTimeout bounds the wait for the upstream's response headers, over all tries (504
	// past it), counted from when each try's request was sent. Default 30s.
	ResponseHeaderTimeout time.Duration `yaml:"response_header_timeout"`
	// TryTimeout bounds one try's wait for response headers; a try past it may be retried. Default:
	// response_header_timeout.
	TryTimeout time.Duration `yaml:"try_timeout"`
	// Timeout bounds the whole exchange, body transfers included. Default 0: none.
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many more targets may be tried after a failed try. A connection that could not be
	// made is always retryable; other failures only for idempotent methods with a replayable body.
	// Default 1 (when the key is not given); 0 turns retries off.
	Retries int `yaml:"retries"`
	// Limits are the route's policies (max_body, rate_limit, allow, headers, auth, cors …), keys at
	// the route's own level. Each key not given takes the defaults section's.
	Limits `yaml:",inline"`
	// Rewrite changes the forwarded path by a regular expression (after strip_prefix); nil: none.
	Rewrite *Rewrite `yaml:"rewrite"`
	// Redirect answers every request of the route with a redirect instead of forwarding it (then
	// there is no upstream); nil: none.
	Redirect *Redirect `yaml:"redirect"`
	// RetryBodyMax is the largest request body buffered so that it can be replayed on a retry; larger
	// or streamed bodies are never retried after they started to flow. Default 64KiB.
	RetryBodyMax ByteSize `yaml:"retry_body_max"`
}

// ByteSize is a size in bytes; YAML takes a whole number or a string like "64KiB", "32MiB", "1GB".
type ByteSize int64

// Headers are header rules for requests (on a forwarding route, applied to the forwarded request
// last, after the proxy set its own X-Forwarded-* and Forwarded) and for responses (as they go out,
// after the upstream's and the proxy's fields). Values may hold {host}, {path}, {query}, {request_id}
// and {client_ip}. headers: false on a route or mount drops the defaults' rules there.
type Headers struct {
	onOff    `yaml:"-"`
	Request  HeaderRules `yaml:"request"`
	Response HeaderRules `yaml:"response"`
}

// HeaderRules remove fields, then set them (replacing), then add them (appending).
type HeaderRules struct {
	Set    map[string]string `yaml:"set"`
	Add    map[string]string `yaml:"add"`
	Remove []string          `yaml:"remove"`
}

// Redirect answers with Status and a Location made from To, which may hold {host}, {path},
// {query} ("?" and the query, or nothing), {request_id} and {client_ip}.
type Redirect struct {
	To string `yaml:"to"`
	// Status is 301, 302, 303, 307 or 308. Default 302.
	Status int `yaml:"status"`
}

// Auth asks clients to authenticate before a route serves them: give Basic or Forward, not both.
// auth: false on a route or mount lets everyone in where the defaults ask for credentials.
type Auth struct {
	onOff `yaml:"-"`
	// Basic is HTTP Basic authentication against bcrypt hashes; nil: none.
	Basic *BasicAuth `yaml:"basic"`
	// Forward asks an auth service about every request; nil: none.
	Forward *ForwardAuth `yaml:"forward"`
}

// DefaultForwardAuthTimeout is auth.forward.timeout's default.
const DefaultForwardAuthTimeout = 5 * time.Second

// ForwardAuth asks an auth service about every request, as Traefik's ForwardAuth, nginx's
// auth_request and Caddy's forward_auth do: a GET without a body to URL carrying the client's request
// header fields (credentials included; hop-by-hop fields left out) and X-Forwarded-Method, -Uri,
// -Host, -Proto, -For and X-Real-Ip, set by frontgate (the client's own forwarding fields are passed
// on only from trusted_proxies). A 2xx answer lets the request go on; any other answer (status,
// header fields, body up to 64 KiB) is the client's answer. No answer within Timeout, or a bigger
// one, is 502.
type ForwardAuth struct {
	// URL is the auth service's http or https URL (without user:password@). Required.
	URL string `yaml:"url"`
	// CopyHeaders are the fields copied from a 2xx answer onto the forwarded request. The client's
	// own fields of these names are always removed, so a client cannot forge them. Empty: none.
	CopyHeaders []string `yaml:"copy_headers"`
	// Timeout bounds one exchange with the auth service, connecting and its answer's body included.
	// Default 5s.
	Timeout time.Duration `yaml:"timeout"`
}

// BasicAuth lists users by name with bcrypt password hashes (htpasswd -B makes them), given in
// Users, in the htpasswd file UsersFile (relative to the config's folder), or both.
type BasicAuth struct {
	// Realm names the protected area in the browser's prompt. Default "frontgate".
	Realm     string            `yaml:"realm"`
	Users     map[string]string `yaml:"users" redact:"true"`
	UsersFile string            `yaml:"users_file"`
}

// CORS says which other origins' pages may call a route from a browser. Preflights are answered at
// the edge; an origin not listed gets no CORS fields. cors: false on a route or mount drops the
// defaults' policy there.
type CORS struct {
	onOff `yaml:"-"`
	// Origins are allowed origins, like https://app.example.com, or "*" for any. Required.
	Origins []string `yaml:"origins"`
	// Methods a preflight allows. Default: GET, HEAD, POST.
	Methods []string `yaml:"methods"`
	// Headers a preflight allows the page to send, like Authorization.
	Headers []string `yaml:"headers"`
	// Credentials lets the page send cookies and authorization. Default false.
	Credentials bool `yaml:"credentials"`
	// MaxAge is how long a browser may reuse a preflight's answer. Default: the browser's.
	MaxAge time.Duration `yaml:"max_age"`
}

// Rewrite replaces the path's matches of Regex (Go's RE2 syntax) with To, where $1 and ${name} are
// the regular expression's groups: {regex: "^/v1/(.*)$", to: "/api/$1"}.
type Rewrite struct {
	Regex Regexp `yaml:"regex"`
	To    string `yaml:"to"`
}

// Compress compresses answers on the fly with the coding the client prefers among Encodings
// (compress: in YAML: {encodings: [zstd, gzip], min_size: 1KiB}, or true for these defaults, or
// false for off; see switchable in decode.go). Load resolves a switched-off Compress to nil, so a
// non-nil one is on.
type Compress struct {
	onOff `yaml:"-"`
	// Encodings are the codings offered, in the server's order of preference, which decides
	// between codings a client weights the same: zstd, br, gzip. Default DefaultEncodings.
	Encodings []Encoding `yaml:"encodings"`
	// MinSize: smaller bodies go out as they are (a body of unknown length is held back up to this
	// size to tell). Default DefaultMinSize; 0 given: every body. At most MaxMinSize.
	MinSize ByteSize `yaml:"min_size"`
}
