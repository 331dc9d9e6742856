package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
)

// The dispatch table must give, for every request, the answer gorilla/mux gives: same handler, same
// path variables, same 404 and 405, including where an earlier route shadows a literal path.
func TestDispatchAnswersAsMuxDoes(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" "+mux.Vars(r)["v"])
		})
	}
	r := mux.NewRouter()
	r.NotFoundHandler = named("notfound")
	r.MethodNotAllowedHandler = named("notallowed")
	r.Path("/").Methods(http.MethodGet, http.MethodHead).Handler(named("hello"))
	r.Path("/post/{v}").Methods(http.MethodPost).Handler(named("pattern"))
	r.PathPrefix("/shadow/").Handler(named("prefix-first"))
	r.Path("/shadow/x").Handler(named("never"))       // shadowed by the prefix before it
	r.Path("/post/literal").Handler(named("literal")) // shadowed for POST only
	r.Path("/only-get").Methods(http.MethodGet).Handler(named("get"))
	r.Path("/api").Handler(named("api"))
	r.PathPrefix("/api/").Handler(named("api-prefix"))
	d := newDispatch(r, []string{"/", "/shadow/x", "/post/literal", "/only-get", "/api", "/post/{v}", "/unknown"})
	if len(d.exact) == 0 {
		t.Fatal("no literal path went into the table")
	}

	methods := append(probeMethods[:], "PROPFIND")
	paths := []string{"/", "/shadow/x", "/shadow/y", "/post/literal", "/post/other", "/only-get", "/api", "/api/", "/api/x", "/unknown", "/api//x"}
	for _, m := range methods {
		for _, p := range paths {
			want, got := httptest.NewRecorder(), httptest.NewRecorder()
			r.ServeHTTP(want, httptest.NewRequest(m, p, nil))
			d.ServeHTTP(got, httptest.NewRequest(m, p, nil))
			if got.Code != want.Code || got.Body.String() != want.Body.String() || got.Header().Get("Location") != want.Header().Get("Location") {
				t.Errorf("%s %s: dispatch %d %q, mux %d %q", m, p, got.Code, got.Body, want.Code, want.Body)
			}
		}
	}
}
