package middleware

import (
	"net/http"
	"net/netip"

	"github.com/frontgate/frontgate/internal/jsonerror"
)

// IPRule lets a request through by its client's address (ClientIP, which honours the trusted
// proxies): with Allow, only addresses inside one of its networks; with Deny, every address but
// those. The zero value lets everyone through.
type IPRule struct {
	Allow, Deny []netip.Prefix
}

// admits reports whether the rule lets a client at a through. An address that could not be read
// passes a deny list and fails an allow list.
func (rule IPRule) admits(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	inside := func(list []netip.Prefix) bool {
		for _, p := range list {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if len(rule.Allow) > 0 && !inside(rule.Allow) {
		return false
	}
	return !inside(rule.Deny)
}

// IPFilter answers 403 (the JSON error shape) to a client the rule does not admit, before next does
// any work; onReject, when set, is called for each such request (metrics).
func IPFilter(next http.Handler, rule IPRule, trusted TrustedProxies, onReject func(*http.Request)) http.Handler {
	if len(rule.Allow) == 0 && len(rule.Deny) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rule.admits(trusted.ClientIP(r)) {
			if onReject != nil {
				onReject(r)
			}
			jsonerror.Write(w, r, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
