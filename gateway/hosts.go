package gateway

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/internal/jsonerror"
	"github.com/frontgate/frontgate/middleware"
)

// entry is one thing the routers serve, collected in the config's order: a demo route, a config
// route or a static mount.
type entry struct {
	name    string
	hosts   []string // exact names and "*.domain" patterns; empty: every host
	mount   bool     // a static mount: after the routes of its host class
	path    string   // the route's path or path prefix, which its method guard matches
	prefix  bool     // path is a prefix
	methods []string // the methods the route allows; empty: all
	// add registers the entry on r; named wraps a handler so that the request is logged under the
	// entry's name and the host pattern it was matched by.
	add func(r *mux.Router, named func(http.Handler) http.Handler)
}

// routeEntry is a route: path (exact, or a prefix at a segment boundary) and methods (empty: all).
func routeEntry(name string, hosts []string, path string, prefix bool, methods []string, h http.Handler) entry {
	return entry{name: name, hosts: hosts, path: path, prefix: prefix, methods: methods,
		add: func(r *mux.Router, named func(http.Handler) http.Handler) {
			route := match(r, path, prefix)
			if len(methods) > 0 {
				route = route.Methods(methods...)
			}
			route.Name(name).Handler(named(h))
		}}
}

// mountEntry is a static mount; its prefix without the final slash redirects to the prefix.
func mountEntry(m config.Static, h http.Handler) entry {
	return entry{name: m.Name, hosts: m.Hosts, mount: true,
		add: func(r *mux.Router, named func(http.Handler) http.Handler) {
			r.PathPrefix(m.Prefix).Name(m.Name).Handler(named(h))
			if bare := strings.TrimSuffix(m.Prefix, "/"); bare != "" {
				r.Path(bare).Handler(named(http.HandlerFunc(toSlash)))
			}
		}}
}

// toSlash redirects a mount's prefix written without its final slash to the prefix.
func toSlash(w http.ResponseWriter, r *http.Request) {
	u := *r.URL
	u.Path += "/"
	u.RawPath = ""
	http.Redirect(w, r, u.RequestURI(), http.StatusMovedPermanently)
}

// hostRouter picks the router of a request's host: the one for its exact name, else the one for the
// wildcard of its parent domain, else the one for every host. Each host's router holds that host's
// entries, then its wildcard's, then the host-less ones: the most specific host wins, then the
// config's order.
type hostRouter struct {
	exact map[string]http.Handler // by host name
	wild  map[string]http.Handler // by the domain after "*."
	any   http.Handler
}

// newHostRouter builds the routers for entries; routes with path literals get dispatch tables.
func newHostRouter(entries []entry) http.Handler {
	var exact, wild []string
	for _, e := range entries {
		for _, h := range e.hosts {
			if d, ok := strings.CutPrefix(h, "*."); ok {
				if !slices.Contains(wild, d) {
					wild = append(wild, d)
				}
			} else if !slices.Contains(exact, h) {
				exact = append(exact, h)
			}
		}
	}
	any := buildRouter([]hostClass{{"", entries}})
	if len(exact) == 0 && len(wild) == 0 {
		return any // no host names anywhere: nothing to choose
	}
	hr := &hostRouter{exact: map[string]http.Handler{}, wild: map[string]http.Handler{}, any: any}
	for _, d := range wild {
		hr.wild[d] = buildRouter([]hostClass{{"*." + d, entries}, {"", entries}})
	}
	for _, h := range exact {
		classes := []hostClass{{h, entries}}
		if _, d, ok := strings.Cut(h, "."); ok && slices.Contains(wild, d) {
			classes = append(classes, hostClass{"*." + d, entries})
		}
		hr.exact[h] = buildRouter(append(classes, hostClass{"", entries}))
	}
	return hr
}

// hostClass is the entries of one host pattern ("" selects the host-less ones).
type hostClass struct {
	pattern string
	entries []entry
}

func (c hostClass) has(e entry) bool {
	if c.pattern == "" {
		return len(e.hosts) == 0
	}
	return slices.Contains(e.hosts, c.pattern)
}

// buildRouter registers the classes' entries in turn: for each class its routes, a method guard per
// path those routes restrict (405 with Allow, rather than falling through to a later entry), then
// its mounts.
func buildRouter(classes []hostClass) http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = named("", "", http.HandlerFunc(notFound))
	r.MethodNotAllowedHandler = named("", "", http.HandlerFunc(notAllowed(nil)))
	var literal []string
	for _, c := range classes {
		nameFor := func(e entry) func(http.Handler) http.Handler {
			return func(h http.Handler) http.Handler { return named(c.pattern, e.name, h) }
		}
		type guard struct {
			e     entry
			allow []string
			open  bool // some route of this path allows every method
		}
		var guards []*guard
		for _, e := range c.entries {
			if !c.has(e) || e.mount {
				continue
			}
			e.add(r, nameFor(e))
			if !e.prefix && !strings.ContainsAny(e.path, "{}") {
				literal = append(literal, e.path)
			}
			i := slices.IndexFunc(guards, func(g *guard) bool { return g.e.path == e.path && g.e.prefix == e.prefix })
			if i < 0 {
				guards = append(guards, &guard{e: e})
				i = len(guards) - 1
			}
			g := guards[i]
			g.open = g.open || len(e.methods) == 0
			for _, m := range e.methods {
				if !slices.Contains(g.allow, m) {
					g.allow = append(g.allow, m)
				}
			}
		}
		for _, g := range guards {
			if !g.open {
				match(r, g.e.path, g.e.prefix).Handler(nameFor(g.e)(http.HandlerFunc(notAllowed(g.allow))))
			}
		}
		for _, e := range c.entries {
			if c.has(e) && e.mount {
				e.add(r, nameFor(e))
			}
		}
	}
	return newDispatch(r, literal)
}

// match adds a route matching path exactly, or as a prefix at a segment boundary: /b matches /b and
// /b/x, never /bxyz (a prefix that ends in "/" is a plain prefix).
func match(r *mux.Router, path string, prefix bool) *mux.Route {
	switch {
	case !prefix:
		return r.Path(path)
	case strings.HasSuffix(path, "/"):
		return r.PathPrefix(path)
	}
	return r.MatcherFunc(func(req *http.Request, _ *mux.RouteMatch) bool {
		p := req.URL.Path
		return strings.HasPrefix(p, path) && (len(p) == len(path) || p[len(path)] == '/')
	})
}

func (hr *hostRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := requestHost(r.Host)
	if h := hr.exact[host]; h != nil {
		h.ServeHTTP(w, r)
		return
	}
	if _, d, ok := strings.Cut(host, "."); ok {
		if h := hr.wild[d]; h != nil {
			h.ServeHTTP(w, r)
			return
		}
	}
	hr.any.ServeHTTP(w, r)
}

// requestHost is the host name of a Host header: without the port and a trailing dot, in lower case
// (without allocating when it is lower case already).
func requestHost(h string) string {
	h = strings.TrimSuffix(middleware.HostName(h), ".")
	for i := 0; i < len(h); i++ {
		if 'A' <= h[i] && h[i] <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// named records the matched host pattern and entry name for the access log and metrics.
func named(host, name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		middleware.SetRoute(r, name)
		if host != "" {
			middleware.SetHost(r, host)
		}
		h.ServeHTTP(w, r)
	})
}

func notFound(w http.ResponseWriter, r *http.Request) { jsonerror.Write(w, r, http.StatusNotFound) }

// notAllowed answers 405 with the methods the path allows.
func notAllowed(allow []string) http.HandlerFunc {
	value := strings.Join(allow, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		if value != "" {
			w.Header().Set("Allow", value)
		}
		jsonerror.Write(w, r, http.StatusMethodNotAllowed)
	}
}
