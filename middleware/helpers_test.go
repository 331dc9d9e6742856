package middleware

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/frontgate/frontgate/internal/fakeclock"
)

// newTestServer starts a real server for h that fails the test if net/http logs a panic.
func newTestServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(testLogWriter{t}, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// testLogWriter fails the test on a server panic and passes other server log lines to t.Log.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "panic") {
		w.t.Errorf("server log: %s", p)
	} else {
		w.t.Logf("server log: %s", p)
	}
	return len(p), nil
}

// newManualClock is a clock that moves only when told to.
func newManualClock() *fakeclock.Clock { return fakeclock.New(time.Unix(1_700_000_000, 0)) }

// exchangeResult is one response, read whole.
type exchangeResult struct {
	status int
	header http.Header
	body   []byte
	closed bool // the server said Connection: close (the client strips the header itself)
}

// get sends GET url with the given headers over a real connection.
func get(t *testing.T, c *http.Client, url string, headers map[string]string) exchangeResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return exchangeResult{status: resp.StatusCode, header: resp.Header, body: body, closed: resp.Close}
}

// checkJSONError asserts res is the gateway's JSON error for status and request id.
func checkJSONError(t *testing.T, res exchangeResult, status int, wantError, requestID string) {
	t.Helper()
	if res.status != status {
		t.Fatalf("status = %d, want %d (body %q)", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if v := res.header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", v)
	}
	var b struct {
		Error     string  `json:"error"`
		Status    int     `json:"status"`
		RequestID *string `json:"request_id"`
	}
	if err := json.Unmarshal(res.body, &b); err != nil {
		t.Fatalf("body %q: %v", res.body, err)
	}
	if b.Error != wantError || b.Status != status || b.RequestID == nil || *b.RequestID != requestID {
		t.Errorf("body = %s, want error %q, status %d, request_id %q", res.body, wantError, status, requestID)
	}
}

func loopbackTrusted(t *testing.T) TrustedProxies {
	t.Helper()
	tp, err := ParseTrustedProxies([]string{"127.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// onlyReader hides the concrete type of a reader, so the client cannot know the length and sends the
// body chunked.
type onlyReader struct{ io.Reader }

// post sends body to url, chunked when chunked is set, else with Content-Length.
func post(t *testing.T, c *http.Client, u string, body []byte, chunked bool, requestID string) exchangeResult {
	t.Helper()
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = onlyReader{rd}
	}
	req, err := http.NewRequest(http.MethodPost, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if chunked {
		req.ContentLength = -1
	}
	if requestID != "" {
		req.Header.Set(RequestIDHeader, requestID)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return exchangeResult{status: resp.StatusCode, header: resp.Header, body: got, closed: resp.Close}
}
