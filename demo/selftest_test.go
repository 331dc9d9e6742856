package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

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

// The mix runs against the demo handlers it is made for: every request of every route gets a 200,
// and Echo sees the upload whole and the extra header on it.
func TestTargets(t *testing.T) {
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
		if r.Header.Get("X-Run") == "1" {
			tagged.Add(1)
		}
		w.WriteHeader(rec.Code)
	})
	mux.HandleFunc("GET /css/base.css", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	extra := make([]loadgen.Header, 1, 4)
	extra[0] = loadgen.Header{Key: "X-Run", Value: "1"}
	targets, err := Targets(srv.URL+"/", extra)
	if err != nil {
		t.Fatal(err)
	}
	if extra[:2][1] != (loadgen.Header{}) {
		t.Errorf("Targets wrote into the extra headers' slice: %v", extra[:2])
	}
	rep, err := loadgen.Run(context.Background(), loadgen.Plan{Targets: targets, Conns: 1, Requests: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/", "/demo1/x", "/demo2", "/css/base.css"} {
		if r := rep.Routes[name]; r == nil || r.Status[200] != 2 || r.Errors != 0 {
			t.Errorf("route %s: %+v, want 2 200s", name, r)
		}
	}
	if uploads.Load() != 2 || tagged.Load() != 2 {
		t.Errorf("/demo2 got %d whole uploads, %d with the extra header; want 2 and 2", uploads.Load(), tagged.Load())
	}
}
