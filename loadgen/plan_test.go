package loadgen

import (
	"bytes"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
	"time"
)

func TestParseHeader(t *testing.T) {
	for arg, want := range map[string]Header{
		"X-A: 1":            {"X-A", "1"},
		"X-B:  two words  ": {"X-B", "two words"},
		" Host :h:8080":     {"Host", "h:8080"},
		"X-Empty:":          {"X-Empty", ""},
	} {
		if got, err := ParseHeader(arg); err != nil || got != want {
			t.Errorf("ParseHeader(%q) = %+v, %v; want %+v", arg, got, err, want)
		}
	}
	for _, arg := range []string{"NoColon", ": value", "  :x", ""} {
		if h, err := ParseHeader(arg); err == nil || !strings.Contains(err.Error(), "want 'Key: Value'") {
			t.Errorf("ParseHeader(%q) = %+v, %v; want an error", arg, h, err)
		}
	}
}

func TestNewTarget(t *testing.T) {
	hdr := []Header{{"X-A", "1"}}
	for _, tt := range []struct {
		url, method string
		body        []byte
		want        Target
	}{
		{"127.0.0.1:8080/x?y=1", "", nil, Target{URL: "http://127.0.0.1:8080/x?y=1", Header: hdr}},
		{"https://h/", "DELETE", nil, Target{URL: "https://h/", Method: "DELETE", Header: hdr}},
		{"http://h/", "", []byte{}, Target{URL: "http://h/", Method: "POST", Header: hdr, Body: []byte{}}}, // an empty body is a body
		{"http://h/", "PUT", []byte("hello"), Target{URL: "http://h/", Method: "PUT", Header: hdr, Body: []byte("hello")}},
	} {
		got, err := NewTarget(tt.url, tt.method, hdr, tt.body, nil)
		if err != nil {
			t.Fatalf("NewTarget(%q, %q): %v", tt.url, tt.method, err)
		}
		if got.URL != tt.want.URL || got.Method != tt.want.Method || len(got.Header) != 1 || got.Header[0] != hdr[0] ||
			!bytes.Equal(got.Body, tt.want.Body) || (got.Body == nil) != (tt.want.Body == nil) {
			t.Errorf("NewTarget(%q, %q, %q) = %+v, want %+v", tt.url, tt.method, tt.body, got, tt.want)
		}
	}

	// A form: encoded once, POST by default, its Content-Type added without touching the caller's slice.
	header := make([]Header, 1, 4)
	header[0] = Header{"X-A", "1"}
	form := []FormField{{Key: "name", Value: []byte("v")}, {Key: "f", Value: []byte("data"), File: true, Filename: "a.bin"}}
	got, err := NewTarget("h:1/up", "", header, nil, form)
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != "POST" || got.URL != "http://h:1/up" || len(got.Header) != 2 || got.Header[1].Key != "Content-Type" {
		t.Fatalf("form target = %+v", got)
	}
	if header[:2][1] != (Header{}) {
		t.Errorf("NewTarget wrote into the caller's header slice: %+v", header[:2])
	}
	_, params, err := mime.ParseMediaType(got.Header[1].Value)
	if err != nil {
		t.Fatal(err)
	}
	mf, err := multipart.NewReader(bytes.NewReader(got.Body), params["boundary"]).ReadForm(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if mf.Value["name"][0] != "v" || mf.File["f"][0].Filename != "a.bin" || mf.File["f"][0].Size != 4 {
		t.Errorf("form decodes to %v, %v", mf.Value, mf.File)
	}
	// A Content-Type given stays the only one; a body and a form exclude each other.
	if got, _ := NewTarget("http://h/", "PUT", []Header{{"content-type", "x/y"}}, nil, form); got.Method != "PUT" || len(got.Header) != 1 {
		t.Errorf("form with its own Content-Type: %+v", got)
	}
	if _, err := NewTarget("http://h/", "", nil, []byte("x"), form); err == nil {
		t.Error("a body and a form: no error")
	}
}

func TestResultErr(t *testing.T) {
	none := &Result{Errors: 20, ErrorKinds: map[string]uint64{"refused": 20}}
	if err := none.Err(); err == nil || err.Error() != "no response received: 20 requests failed (refused=20)" {
		t.Errorf("Err() = %v", err)
	}
	for _, r := range []*Result{{}, {Requests: 1, Errors: 5}, {Requests: 3}} {
		if err := r.Err(); err != nil {
			t.Errorf("%+v: Err() = %v, want nil", r, err)
		}
	}
}

func TestParseStartAt(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{"2026-05-01T12:00:30Z", now.Add(30 * time.Second), ""},
		{"2026-05-01T14:00:02.5+02:00", now.Add(2500 * time.Millisecond), ""},
		{"2026-05-01T11:59:59.5Z", now.Add(-500 * time.Millisecond), ""}, // just passed: fine
		{"2026-05-01T11:59:58Z", time.Time{}, "is 2s in the past"},
		{"2026-05-02T12:00:00Z", now.Add(24 * time.Hour), ""},
		{"2026-05-02T12:00:01Z", time.Time{}, "is 24h0m1s ahead: at most 24h"},
		{"12:00:30", time.Time{}, `start time "12:00:30": want RFC 3339, e.g. 2026-05-01T12:01:00Z`},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStartAt(tt.in, now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("ParseStartAt = %v, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("ParseStartAt = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
