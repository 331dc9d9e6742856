package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/frontgate/frontgate/middleware"
)

// The config's little languages decode into the typed values below, so that a misspelt value is a
// problem with its path and line, and the code that builds runtime objects switches over constants
// instead of re-parsing strings. Each zero value is the default.

// Balance is how a pool picks a target for a request. The zero value is RoundRobin.
type Balance int

const (
	RoundRobin Balance = iota // by weight, in turn
	LeastConn                 // the target with the fewest requests in flight
	Random                    // the better of two random targets (power of two choices)
	Hash                      // consistent hashing of the pool's HashKey
)

var balanceNames = []string{"round_robin", "least_conn", "random", "hash"}

func (b Balance) String() string               { return enumName(balanceNames, int(b)) }
func (b Balance) MarshalText() ([]byte, error) { return []byte(b.String()), nil }
func (b *Balance) UnmarshalText(t []byte) error {
	return parseEnum((*int)(b), balanceNames, "policy", t)
}

// Engine is the HTTP/1.1 server of a plain-HTTP public listener. The zero value is Lean.
type Engine int

const (
	Lean   Engine = iota // frontgate's HTTP/1.1 server (package leanhttp): one write per response
	Stdlib               // net/http's server, held to the same rules (package guard)
)

var engineNames = []string{"lean", "stdlib"}

func (e Engine) String() string                { return enumName(engineNames, int(e)) }
func (e Engine) MarshalText() ([]byte, error)  { return []byte(e.String()), nil }
func (e *Engine) UnmarshalText(t []byte) error { return parseEnum((*int)(e), engineNames, "engine", t) }

// HostHeader is the Host header a route sends upstream. The zero value is TargetHost.
type HostHeader int

const (
	TargetHost   HostHeader = iota // the target's host ("upstream" in YAML)
	PreserveHost                   // the client's ("preserve")
)

var hostNames = []string{"upstream", "preserve"}

func (h HostHeader) String() string               { return enumName(hostNames, int(h)) }
func (h HostHeader) MarshalText() ([]byte, error) { return []byte(h.String()), nil }
func (h *HostHeader) UnmarshalText(t []byte) error {
	return parseEnum((*int)(h), hostNames, "value", t)
}

// Encoding is a content coding that compress: applies. The zero value is Zstd.
type Encoding int

const (
	Zstd   Encoding = iota // Zstandard ("zstd")
	Brotli                 // Brotli ("br")
	Gzip                   // gzip ("gzip")
)

// encodingNames are the codings' names in YAML, which are also their HTTP names.
var encodingNames = []string{"zstd", "br", "gzip"}

func (e Encoding) String() string               { return enumName(encodingNames, int(e)) }
func (e Encoding) MarshalText() ([]byte, error) { return []byte(e.String()), nil }
func (e *Encoding) UnmarshalText(t []byte) error {
	return parseEnum((*int)(e), encodingNames, "encoding", t)
}

// RateStore is where a rate limit keeps its buckets. The zero value is LocalStore.
type RateStore int

const (
	LocalStore RateStore = iota // this process's memory
	RedisStore                  // the top-level redis server, shared by the replicas using it
)

var rateStoreNames = []string{"local", "redis"}

func (s RateStore) String() string               { return enumName(rateStoreNames, int(s)) }
func (s RateStore) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
func (s *RateStore) UnmarshalText(t []byte) error {
	return parseEnum((*int)(s), rateStoreNames, "store", t)
}

// StoreErrorPolicy decides the requests of a store: redis rate limit while Redis fails. The zero
// value is FallbackLocal.
type StoreErrorPolicy int

const (
	FallbackLocal StoreErrorPolicy = iota // limit in this process at the replicas' share of the limit
	FallbackAllow                         // let every request through
	FallbackDeny                          // refuse every request with 429
)

var storeErrorNames = []string{"local", "allow", "deny"}

func (p StoreErrorPolicy) String() string               { return enumName(storeErrorNames, int(p)) }
func (p StoreErrorPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }
func (p *StoreErrorPolicy) UnmarshalText(t []byte) error {
	return parseEnum((*int)(p), storeErrorNames, "policy", t)
}

func enumName(names []string, i int) string {
	if i < 0 || i >= len(names) {
		return fmt.Sprintf("(%d)", i)
	}
	return names[i]
}

// parseEnum sets *dst to the index of text in names, or says which names there are.
func parseEnum(dst *int, names []string, noun string, text []byte) error {
	for i, n := range names {
		if string(text) == n {
			*dst = i
			return nil
		}
	}
	return fmt.Errorf("unknown %s %q (use %s)", noun, text, orList(names))
}

// orList writes names as "a, b or c".
func orList(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// KeySource is the part of a request that a Key takes.
type KeySource int

const (
	ClientIP KeySource = iota // the client's address (honouring trusted_proxies)
	Header                    // a request header's value
	Cookie                    // a cookie's value
	Global                    // nothing: one key for every request
)

var keySourceNames = []string{"client_ip", "header", "cookie", "global"}

// Key says what identifies a request's client for hashing or rate limiting: client_ip (the zero
// value), header:NAME, cookie:NAME or global.
type Key struct {
	Source KeySource
	// Name is the header or cookie name; empty for client_ip and global.
	Name string
}

func (k Key) String() string {
	s := enumName(keySourceNames, int(k.Source))
	if k.Source == Header || k.Source == Cookie {
		s += ":" + k.Name
	}
	return s
}

func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// parseKey reads text as a Key whose source is one of allowed.
func parseKey(text []byte, allowed ...KeySource) (Key, error) {
	kind, name, named := strings.Cut(string(text), ":")
	for _, src := range allowed {
		if kind != keySourceNames[src] {
			continue
		}
		if wantsName := src == Header || src == Cookie; named == wantsName && (name != "") == wantsName {
			return Key{Source: src, Name: name}, nil
		}
	}
	spell := make([]string, len(allowed))
	for i, src := range allowed {
		spell[i] = keySourceNames[src]
		if src == Header || src == Cookie {
			spell[i] += ":NAME"
		}
	}
	return Key{}, fmt.Errorf("unknown key %q (use %s)", text, orList(spell))
}

// HashKey is what balance: hash hashes: client_ip (the zero value), header:NAME or cookie:NAME.
type HashKey struct{ Key }

func (k *HashKey) UnmarshalText(t []byte) (err error) {
	k.Key, err = parseKey(t, ClientIP, Header, Cookie)
	return err
}

// RateKey splits a rate limit: client_ip (the zero value), header:NAME, or global.
type RateKey struct{ Key }

func (k *RateKey) UnmarshalText(t []byte) (err error) {
	k.Key, err = parseKey(t, ClientIP, Header, Global)
	return err
}

// Network is a CIDR (10.0.0.0/8, 2001:db8::/32) or one address (192.0.2.7: a /32), masked, with an
// IPv4-mapped IPv6 network written as the IPv4 one it is.
type Network struct{ netip.Prefix }

func (n Network) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

func (n *Network) UnmarshalText(t []byte) error {
	p, err := middleware.ParseNetwork(string(t))
	if err != nil {
		return fmt.Errorf("%q is not a CIDR like 10.0.0.0/8 or an IP address", t)
	}
	n.Prefix = p
	return nil
}

// Regexp is a compiled regular expression (Go's RE2 syntax). The zero value has none (nil).
type Regexp struct{ *regexp.Regexp }

func (r Regexp) MarshalText() ([]byte, error) {
	if r.Regexp == nil {
		return nil, nil
	}
	return []byte(r.String()), nil
}

func (r *Regexp) UnmarshalText(t []byte) error {
	re, err := regexp.Compile(string(t))
	if err != nil {
		return fmt.Errorf("not a regular expression (RE2): %v", err)
	}
	r.Regexp = re
	return nil
}
