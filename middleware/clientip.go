package middleware

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies is the set of networks whose X-Forwarded-For entries are believed: the gateway's own
// load balancers and CDNs. The zero value trusts nobody, so ClientIP is always the TCP peer.
type TrustedProxies struct {
	prefixes []netip.Prefix // masked; IPv4 prefixes are plain IPv4 (never IPv4-mapped IPv6)
}

// ParseTrustedProxies parses CIDRs such as "10.0.0.0/8" or "2001:db8::/32"; a bare address such as
// "192.0.2.7" stands for that one host. An empty list gives the zero value. The error names the first
// entry that does not parse.
func ParseTrustedProxies(cidrs []string) (TrustedProxies, error) {
	var tp TrustedProxies
	for _, s := range cidrs {
		p, err := ParseNetwork(strings.TrimSpace(s))
		if err != nil {
			return TrustedProxies{}, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		tp.prefixes = append(tp.prefixes, p)
	}
	return tp, nil
}

// ParseNetwork parses a CIDR ("10.0.0.0/8", "2001:db8::/32") or a bare address (one host), masked,
// with an IPv4-mapped IPv6 network read as the IPv4 one it is.
func ParseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// ::ffff:10.0.0.0/104 means 10.0.0.0/8: addresses are unmapped before matching.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Empty reports whether no network is trusted (the zero value).
func (tp TrustedProxies) Empty() bool { return len(tp.prefixes) == 0 }

// Contains reports whether a is inside one of the trusted networks. The zero value contains nothing.
func (tp TrustedProxies) Contains(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range tp.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the client that sent r. It starts from the TCP peer (r.RemoteAddr);
// only while the current address is a trusted proxy does it believe X-Forwarded-For, walking its
// entries from the right (the hop nearest to us) and returning the first address that is not trusted.
// An entry that does not parse stops the walk, and the last good address is returned; if every hop is
// trusted, the leftmost entry is returned. Several X-Forwarded-For lines count as one list, in order.
// Entries may carry a port ("192.0.2.1:443", "[2001:db8::1]:443"). IPv4-mapped IPv6 addresses are
// returned as IPv4, without zone. The result is the zero netip.Addr only when RemoteAddr itself does
// not parse (e.g. a request that did not come over TCP).
func (tp TrustedProxies) ClientIP(r *http.Request) netip.Addr {
	cur, ok := parseHostAddr(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !tp.Contains(cur) {
		return cur
	}
	lines := r.Header.Values("X-Forwarded-For")
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for more := true; more; {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				entry, more = rest, false
			}
			a, ok := parseHostAddr(strings.TrimSpace(entry))
			if !ok {
				return cur
			}
			cur = a
			if !tp.Contains(cur) {
				return cur
			}
		}
	}
	return cur
}

// parseHostAddr parses "addr", "addr:port" or "[addr]:port", unmapping IPv4-in-IPv6 and dropping any
// zone.
func parseHostAddr(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
