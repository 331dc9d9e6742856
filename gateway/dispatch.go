package gateway

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/gorilla/mux"
)

// dispatch serves requests through the mux router's matching, without the two request copies
// mux.Router.ServeHTTP makes on every request to put the route and its variables in the context (the
// profile's largest allocation). Routes with path variables still get them, so mux.Vars works there.
type dispatch struct {
	r *mux.Router
	// exact holds mux's own answer for the routes' literal paths, per method in probeMethods, found
	// by asking the router at build time: for these paths a map lookup replaces matching every
	// route's regular expression in turn. Only answers that name a handler without path variables
	// are kept; everything else goes to the router. The router's answer can depend on nothing but
	// the path and the method, since the gateway registers no host, header, query or scheme matchers.
	exact map[string]*[len(probeMethods)]http.Handler
}

var probeMethods = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
	http.MethodPatch, http.MethodOptions}

// newDispatch serves through r, answering requests for the given literal paths from a table.
func newDispatch(r *mux.Router, paths []string) dispatch {
	d := dispatch{r: r, exact: map[string]*[len(probeMethods)]http.Handler{}}
	for _, p := range paths {
		if strings.ContainsAny(p, "{}") || cleanPath(p) != p {
			continue
		}
		var row [len(probeMethods)]http.Handler
		found := false
		for i, m := range probeMethods {
			req := &http.Request{Method: m, URL: &url.URL{Path: p}, Header: http.Header{}}
			var rm mux.RouteMatch
			if r.Match(req, &rm) && rm.MatchErr == nil && rm.Handler != nil && len(rm.Vars) == 0 {
				row[i], found = rm.Handler, true
			}
		}
		if found {
			d.exact[p] = &row
		}
	}
	return d
}

func methodIndex(m string) int {
	for i, p := range probeMethods {
		if m == p {
			return i
		}
	}
	return -1
}

func (d dispatch) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if row := d.exact[req.URL.Path]; row != nil {
		if i := methodIndex(req.Method); i >= 0 && row[i] != nil {
			row[i].ServeHTTP(w, req)
			return
		}
	}
	// Like mux: a path that is not clean is redirected to its clean form.
	if p := cleanPath(req.URL.Path); p != req.URL.Path {
		u := *req.URL
		u.Path = p
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	var m mux.RouteMatch
	if !d.r.Match(req, &m) || m.Handler == nil {
		d.r.NotFoundHandler.ServeHTTP(w, req)
		return
	}
	if len(m.Vars) > 0 {
		req = mux.SetURLVars(req, m.Vars)
	}
	m.Handler.ServeHTTP(w, req)
}

// cleanPath is path.Clean keeping a trailing slash, as mux does.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}
