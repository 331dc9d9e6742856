package config

import (
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/frontgate/frontgate/internal/httpsyntax"
	"github.com/frontgate/frontgate/middleware"
)

// checkHeaders adds a problem for every field name that is not a token, value that could split a
// header, or placeholder that does not exist.
func checkHeaders(bad problemFunc, p string, h *Headers) {
	if h == nil {
		return
	}
	for _, side := range []struct {
		name  string
		rules HeaderRules
	}{{"request", h.Request}, {"response", h.Response}} {
		for _, op := range []struct {
			name   string
			fields map[string]string
		}{{"set", side.rules.Set}, {"add", side.rules.Add}} {
			for _, k := range slices.Sorted(maps.Keys(op.fields)) {
				fp := fmt.Sprintf("%s.%s.%s.%s", p, side.name, op.name, k)
				if !httpsyntax.Token(k) {
					bad(fp, "%q is not a header field name", k)
				}
				if v := op.fields[k]; !httpsyntax.Value(v) {
					bad(fp, "the value holds a control character (CR, LF, NUL …)")
				} else if _, err := middleware.ParseTemplate(v); err != nil {
					bad(fp, "%v", err)
				}
			}
		}
		for i, k := range side.rules.Remove {
			if !httpsyntax.Token(k) {
				bad(fmt.Sprintf("%s.%s.remove[%d]", p, side.name, i), "%q is not a header field name", k)
			}
		}
	}
}

// validateRedirect checks a redirect route: a target, a redirect status, and no upstream.
func (c *Config) validateRedirect(bad problemFunc, p string, r Route) {
	if r.Upstream != "" {
		bad(p+".upstream", "a redirect route forwards nothing: give redirect or upstream, not both")
	}
	switch rd := r.Redirect; {
	case rd.To == "":
		bad(p+".redirect.to", "missing; give the target, like https://example.com{path}{query}")
	default:
		if !httpsyntax.Value(rd.To) {
			bad(p+".redirect.to", "the target holds a control character (CR, LF, NUL …)")
		} else if _, err := middleware.ParseTemplate(rd.To); err != nil {
			bad(p+".redirect.to", "%v", err)
		}
	}
	switch r.Redirect.Status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		bad(p+".redirect.status", "%d is not a redirect status (use 301, 302, 303, 307 or 308)", r.Redirect.Status)
	}
}
