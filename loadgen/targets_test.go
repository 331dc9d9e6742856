package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestParseTargets(t *testing.T) {
	bodies := map[string]string{"thing.json": `{"a":1}`, "/abs/empty": ""}
	readBody := func(name string) ([]byte, error) {
		if b, ok := bodies[name]; ok {
			return []byte(b), nil
		}
		return nil, os.ErrNotExist
	}
	const good = `# the API
GET http://h:1/a?x=1
X-Account: 42
  Accept:   text/plain

# create one
POST http://h:1/things
Content-Type: application/json
@thing.json
GET http://h:1/a?x=1
@ /abs/empty



HEAD http://h:1/
`
	got, err := parseTargets(strings.NewReader(good), "t.txt", []Header{{"X-Account", "0"}, {"X-Run", "r1"}}, readBody)
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{
		{Name: "GET /a?x=1", Method: "GET", URL: "http://h:1/a?x=1",
			Header: []Header{{"X-Account", "42"}, {"Accept", "text/plain"}, {"X-Run", "r1"}}},
		{Name: "POST /things", Method: "POST", URL: "http://h:1/things",
			Header: []Header{{"Content-Type", "application/json"}, {"X-Account", "0"}, {"X-Run", "r1"}}, Body: []byte(`{"a":1}`)},
		{Name: "GET /a?x=1 (line 10)", Method: "GET", URL: "http://h:1/a?x=1",
			Header: []Header{{"X-Account", "0"}, {"X-Run", "r1"}}, Body: []byte{}},
		{Name: "HEAD /", Method: "HEAD", URL: "http://h:1/", Header: []Header{{"X-Account", "0"}, {"X-Run", "r1"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parse:\n got %+v\nwant %+v", got, want)
	}

	for _, tt := range []struct{ name, file, want string }{
		{"empty", "# nothing\n\n", "t.txt: no target"},
		{"no url", "GET\n", `t.txt:1: "GET": want a target line, METHOD URL`},
		{"lower-case method", "\nget http://h:1/\n", `t.txt:2: "get http://h:1/": want a target line`},
		{"header first", "X-A: 1\n", `t.txt:1: "X-A: 1": want a target line`},
		{"url with a space", "GET http://h:1/ x\n", `t.txt:1: "GET http://h:1/ x": want a target line`},
		{"relative url", "GET /a\n", `t.txt:1: url "/a": want an absolute http or https URL`},
		{"ftp", "GET ftp://h/a\n", `t.txt:1: url "ftp://h/a": want an absolute`},
		{"bad header", "GET http://h:1/\nX-A 1\n", `t.txt:2: "X-A 1": want a header line, Key: Value`},
		{"content-length", "POST http://h:1/\nContent-Length: 3\n", "t.txt:2: header Content-Length is computed"},
		{"missing body", "POST http://h:1/\n\nPOST http://h:1/\n@nope.json\n", "t.txt:4: body file nope.json: file does not exist"},
		{"no body name", "POST http://h:1/\n@\n", "t.txt:2: body line without a file name"},
		{"header after body", "POST http://h:1/\n@thing.json\nX-A: 1\n", `t.txt:3: "X-A: 1" after the body line`},
		{"mixed hosts", "GET http://h:1/\n\n# other\nGET http://h:2/\n",
			"t.txt:4: http://h:2 differs from http://h:1 (line 1): all targets must share one scheme://host:port"},
		{"mixed schemes", "GET http://h:1/\n\nGET https://h:1/\n", "t.txt:3: https://h:1 differs from http://h:1 (line 1)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTargets(strings.NewReader(tt.file), "t.txt", nil, readBody)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// ReadTargets takes a relative body path from the targets file's folder, and names a file it cannot read.
func TestReadTargetsFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "b.txt"), []byte("body"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "targets")
	if err := os.WriteFile(path, []byte("PUT http://h:1/x\n@b.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts, err := ReadTargets(path, nil)
	if err != nil || len(ts) != 1 || string(ts[0].Body) != "body" {
		t.Fatalf("ReadTargets = %+v, %v", ts, err)
	}
	missing := filepath.Join(dir, "missing")
	if _, err := ReadTargets(missing, nil); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
}

// received is one request as a recording server saw it.
type received struct {
	proto                             int // HTTP major version
	method, uri, account, ctype, body string
}

// recordingServer records every request in order and answers 200; proto is "h1", "h2" (TLS) or "h2c".
func recordingServer(t *testing.T, proto string) (url string, got func() []received) {
	t.Helper()
	var (
		mu  sync.Mutex // guards reqs
		all []received
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		all = append(all, received{r.ProtoMajor, r.Method, r.RequestURI, r.Header.Get("X-Account"), r.Header.Get("Content-Type"), string(b)})
		mu.Unlock()
	}))
	startProto(t, srv, proto)
	return srv.URL, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), all...)
	}
}

// startProto starts srv speaking proto: "h1", "h2" (TLS with ALPN) or "h2c" (prior knowledge).
func startProto(t *testing.T, srv *httptest.Server, proto string) {
	t.Helper()
	switch proto {
	case "h2":
		srv.EnableHTTP2 = true
		srv.StartTLS()
	case "h2c":
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
	default:
		srv.Start()
	}
	t.Cleanup(srv.Close)
}

// Three targets (a GET, a POST with a body file, a GET with a header) are sent in turn by every client,
// each exactly as written, and reported each on its own row.
func TestRunTargets(t *testing.T) {
	for _, tt := range []struct {
		name   string
		server string
		plan   Plan
	}{
		{"fast", "h1", Plan{}},
		{"std", "h1", Plan{ForceStdClient: true}},
		{"h2c", "h2c", Plan{Proto: ProtoH2C}},
		{"h2", "h2", Plan{Proto: ProtoH2, Insecure: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url, got := recordingServer(t, tt.server)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "new.json"), []byte(`{"n":1}`), 0o644); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "targets.txt")
			file := "GET " + url + "/a\n\nPOST " + url + "/things?x=1\nContent-Type: application/json\n@new.json\n\n" +
				"# with a header\nGET " + url + "/b\nX-Account: 42\n"
			if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
				t.Fatal(err)
			}
			p := tt.plan
			if p.Targets, _ = ReadTargets(path, nil); len(p.Targets) != 3 {
				t.Fatalf("%d targets, want 3", len(p.Targets))
			}
			p.Conns, p.Requests = 1, 9 // one connection: the server sees the requests in the order sent
			rep := mustRun(t, context.Background(), p)
			major := map[string]int{"h1": 1, "h2": 2, "h2c": 2}[tt.server]
			want := []received{
				{major, "GET", "/a", "", "", ""},
				{major, "POST", "/things?x=1", "", "application/json", `{"n":1}`},
				{major, "GET", "/b", "42", "", ""},
			}
			want = append(append(want, want...), want...)
			if g := got(); !reflect.DeepEqual(g, want) {
				t.Errorf("received\n%+v\nwant\n%+v", g, want)
			}
			for _, name := range []string{"GET /a", "POST /things?x=1", "GET /b"} {
				if r := rep.Routes[name]; r == nil || r.Requests != 3 || r.Status[200] != 3 {
					t.Errorf("route %q: %+v, want 3 requests answered 200", name, r)
				}
			}
			if rep.Requests != 9 || len(rep.Routes) != 3 {
				t.Errorf("%d requests in %d routes, want 9 in 3", rep.Requests, len(rep.Routes))
			}
		})
	}
}
