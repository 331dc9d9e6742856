package config

import (
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// lint finds what check reports beside problems: routes that repeat or can never match because an
// earlier one takes their every request, static mounts a route hides, and (while TLS is on) host
// names neither tls.acme nor a certificate covers; leaves are the certificates validate loaded.
func (c *Config) lint(d *decoder, leaves []*x509.Certificate) []Problem {
	var out []Problem
	warn := func(path, format string, args ...any) {
		out = append(out, Problem{Path: path, Line: d.lineOf(path), Msg: fmt.Sprintf(format, args...)})
	}
	for j, r := range c.Routes {
		for i, earlier := range c.Routes[:j] {
			if !sameHosts(earlier.Hosts, r.Hosts) || !methodsCover(earlier.Methods, r.Methods) || !pathCovers(earlier, r.Path+r.PathPrefix, r.PathPrefix != "") {
				continue
			}
			if earlier.Path == r.Path && earlier.PathPrefix == r.PathPrefix && len(earlier.Methods) == len(r.Methods) {
				warn(fmt.Sprintf("routes[%d]", j), "repeats routes[%d]: it can never match", i)
			} else {
				warn(fmt.Sprintf("routes[%d]", j), "can never match: routes[%d] takes every request it would", i)
			}
			break
		}
	}
	for k, m := range c.Static {
		for i, r := range c.Routes {
			// A route on the mount's prefix takes its requests, or answers 405 for the methods it
			// does not allow: the mount is never reached.
			if sameHosts(r.Hosts, m.Hosts) && pathCovers(r, m.Prefix, true) {
				warn(fmt.Sprintf("static[%d]", k), "can never match: routes[%d] takes every request under %s", i, m.Prefix)
				break
			}
		}
	}
	if !c.Log.Access && c.Log.AccessFile != "" {
		warn("log.access_file", "access: false, so nothing is written to it")
	}
	c.lintCertificates(warn, leaves)
	if c.Redis != nil && !c.UsesRedis() {
		warn("redis", "no rate_limit has store: redis; the block is unused")
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// lintCertificates warns of host names that neither a certificate file nor tls.acme covers: clients
// asking for them get the default certificate, which their name check refuses.
func (c *Config) lintCertificates(warn func(path, format string, args ...any), leaves []*x509.Certificate) {
	if !c.TLS.On() || c.Embedded {
		return
	}
	acme := c.TLS.ACME
	byACME := func(host string) bool {
		switch {
		case acme == nil || strings.HasPrefix(host, "*."):
			return false // HTTP-01 and TLS-ALPN-01 cannot prove a wildcard
		case acme.OnDemand != nil:
			return true // ordered at its first handshake, if ask allows it
		}
		return slices.Contains(acme.Names, host)
	}
	covered := func(host string) bool {
		name := host
		if d, ok := strings.CutPrefix(host, "*."); ok {
			name = "frontgate-check." + d // a wildcard host needs a wildcard certificate
		}
		return byACME(host) || slices.ContainsFunc(leaves, func(l *x509.Certificate) bool { return l.VerifyHostname(name) == nil })
	}
	check := func(p string, hosts []string) {
		for i, h := range hosts {
			if !covered(h) {
				warn(fmt.Sprintf("%s.hosts[%d]", p, i), "no certificate in tls covers %q: its clients get the default one", h)
			}
		}
	}
	for i, r := range c.Routes {
		check(fmt.Sprintf("routes[%d]", i), r.Hosts)
	}
	for i, m := range c.Static {
		check(fmt.Sprintf("static[%d]", i), m.Hosts)
	}
}

// sameHosts reports whether two hosts lists select the same requests.
func sameHosts(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, h := range b {
		if !slices.Contains(a, h) {
			return false
		}
	}
	return true
}

// methodsCover reports whether a route allowing methods a takes every method b allows (empty: all).
func methodsCover(a, b []string) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, m := range b {
		if !slices.Contains(a, m) {
			return false
		}
	}
	return true
}

// pathCovers reports whether every path that path (a prefix when prefix) matches is matched by r.
func pathCovers(r Route, path string, prefix bool) bool {
	if r.Path != "" {
		return !prefix && r.Path == path
	}
	p := r.PathPrefix
	if !strings.HasPrefix(path, p) {
		return false
	}
	// r matches at a segment boundary unless its prefix ends in "/".
	return strings.HasSuffix(p, "/") || len(path) == len(p) || path[len(p)] == '/'
}
