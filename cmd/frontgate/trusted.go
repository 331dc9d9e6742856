package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// prefixes is the parsed trusted_proxies list.
type prefixes []netip.Prefix

func parseTrusted(list []string) (prefixes, error) {
	var out prefixes
	for i, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("trusted_proxies[%d]: %q is not a CIDR or address", i, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (ps prefixes) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the peer's address or, from a trusted peer, the right-most untrusted address of
// X-Forwarded-For.
func (ps prefixes) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if !ps.contains(ip) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ip
		}
		ip = a.Unmap()
		if !ps.contains(ip) {
			return ip
		}
	}
	return ip
}
