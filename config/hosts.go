package config

import (
	"fmt"
	"strings"
)

// normalizeHosts lowercases host names and drops a trailing dot: names match case-insensitively, and
// "example.com." is "example.com".
func normalizeHosts(hosts []string) {
	for i, h := range hosts {
		hosts[i] = strings.TrimSuffix(strings.ToLower(h), ".")
	}
}

// checkHosts adds a problem for every malformed or repeated name in the hosts list at path p.
func checkHosts(bad problemFunc, p string, hosts []string) {
	seen := map[string]int{}
	for i, h := range hosts {
		hp := fmt.Sprintf("%s.hosts[%d]", p, i)
		if err := checkHostName(h); err != nil {
			bad(hp, "%v", err)
			continue
		}
		if j, dup := seen[h]; dup {
			bad(hp, "%q is already hosts[%d]", h, j)
		}
		seen[h] = i
	}
}

// checkHostName accepts a DNS name in A-label form, optionally with one leading "*." wildcard label.
func checkHostName(h string) error {
	name := strings.TrimPrefix(h, "*.")
	switch {
	case h == "":
		return fmt.Errorf("empty host name")
	case strings.Contains(name, "*"):
		return fmt.Errorf("%q: a wildcard is one leading label, like *.example.com", h)
	case strings.ContainsAny(h, ":/"):
		return fmt.Errorf("%q: give the host name alone, without port, scheme or path", h)
	case len(name) > 253:
		return fmt.Errorf("%q is longer than a DNS name can be", h)
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a valid host name", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if c >= 0x80 {
				return fmt.Errorf("%q: write an international name in its A-label form (xn--…)", h)
			}
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q is not a valid host name", h)
			}
		}
	}
	if h != name && !strings.Contains(name, ".") {
		return fmt.Errorf("%q: a wildcard needs a domain of two labels or more, like *.example.com", h)
	}
	return nil
}

// hostsOverlap reports whether two hosts lists can both match one request: both empty (every host),
// or a name in common.
func hostsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}
