package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/loadgen"
)

func TestJPEG(t *testing.T) {
	b := JPEG(ImageSize)
	if len(b) != ImageSize || !bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF, 0xE0}) || !bytes.HasSuffix(b, []byte{0xFF, 0xD9}) {
		t.Fatalf("JPEG(%d): %d bytes, starts % x, ends % x", ImageSize, len(b), b[:4], b[len(b)-2:])
	}
	if i := bytes.IndexByte(b[30:len(b)-2], 0xFF); i >= 0 {
		t.Errorf("scan data holds a marker byte at %d", 30+i)
	}
	if !bytes.Equal(b, JPEG(ImageSize)) {
		t.Error("JPEG is not deterministic")
	}
	if n := len(JPEG(0)); n != 32 {
		t.Errorf("JPEG(0) has %d bytes, want the 32 of its markers", n)
	}
}

// SelfTargets drives what a config serves and names what it leaves out: a route with auth, a redirect,
// a mount without a file and a forwarded route whose probe gets a 502; the embedded default's /demo2
// carries the upload, and the extra header goes on every request without touching the caller's slice.
func TestSelfTargets(t *testing.T) {
	var uploads, tagged atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", Hello())
	mux.Handle("POST /demo1/{name}", Form(func(r *http.Request) string { return r.PathValue("name") }))
	mux.HandleFunc("POST /demo2", func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		Echo().ServeHTTP(rec, r)
		var got Received
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err == nil && len(got.Files["image"]) == 1 &&
			got.Files["image"][0].Size == ImageSize && got.Form["image_id"][0] == "2" {
			uploads.Add(1)
		}
		w.WriteHeader(rec.Code)
	})
	mux.HandleFunc("GET /down", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Run") == "1" {
			tagged.Add(1)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Static = append(cfg.Static, config.Static{Prefix: "/empty/", Path: "nope", Name: "empty"},
		config.Static{Prefix: "/private/", Path: "css", Name: "private", Limits: config.Limits{Auth: &config.Auth{}}})
	cfg.Routes = append(cfg.Routes, config.Route{Path: "/down", Name: "down", Upstream: "demo"},
		config.Route{Path: "/old", Name: "old", Redirect: &config.Redirect{To: "/new"}},
		config.Route{PathPrefix: "/v1/", Name: "v1", Methods: []string{"DELETE"}, Hosts: []string{"*.example.com"}, Upstream: "demo"})
	extra := make([]loadgen.Header, 1, 4)
	extra[0] = loadgen.Header{Key: "X-Run", Value: "1"}
	targets, skipped, err := SelfTargets(context.Background(), cfg, srv.URL+"/", extra)
	if err != nil {
		t.Fatal(err)
	}
	if extra[:2][1] != (loadgen.Header{}) {
		t.Errorf("SelfTargets wrote into the extra headers' slice: %v", extra[:2])
	}
	var names []string
	for _, tg := range targets {
		names = append(names, tg.Method+" "+tg.Name)
	}
	if want := "GET / POST /demo1/x GET /css/base.css GET /font/frontgate.ttf GET /index.html POST /demo2 DELETE /v1/"; strings.Join(names, " ") != want {
		t.Errorf("targets %q, want %s", names, want)
	}
	if v1 := targets[len(targets)-1]; !slices.Contains(v1.Header, loadgen.Header{Key: "Host", Value: "www.example.com"}) {
		t.Errorf("DELETE /v1/ headers %v, want Host: www.example.com", v1.Header)
	}
	var skips []string
	for _, s := range skipped {
		skips = append(skips, s.Name+": "+s.Reason)
	}
	for _, want := range []string{"empty: folder nope", "private: needs auth", "old: redirect route", "down: upstream unreachable: probe GET /down answered 502"} {
		if !slices.ContainsFunc(skips, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("skipped %q lacks %q", skips, want)
		}
	}
	if len(skips) != 4 {
		t.Errorf("skipped %q, want 4", skips)
	}
	rep, err := loadgen.Run(context.Background(), loadgen.Plan{Targets: targets, Conns: 1, Requests: 14})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if r := rep.Routes[tg.Name]; r == nil || r.Status[200] != 2 || r.Errors != 0 {
			t.Errorf("route %s: %+v, want 2 200s", tg.Name, r)
		}
	}
	if uploads.Load() != 3 || tagged.Load() != 2+2+2+3 { // with the probes of /demo2 and /v1/
		t.Errorf("/demo2 got %d whole uploads, the mux's fallback %d requests with the extra header; want 3 and 9", uploads.Load(), tagged.Load())
	}
}
