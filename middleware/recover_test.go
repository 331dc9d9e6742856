package middleware

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

type secretPanic struct{ Token string }

func TestRecoverAnswers500BeforeTheResponseStarted(t *testing.T) {
	tests := []struct {
		name      string
		value     any
		wantPanic string // in the logged "panic" field
		prepare   func(w http.ResponseWriter)
	}{
		{"string", "secret-token-123 exploded", "secret-token-123 exploded", nil},
		{"error", fmt.Errorf("db: %w", errors.New("secret-token-123 leaked")), "secret-token-123 leaked", nil},
		{"struct", secretPanic{Token: "secret-token-123"}, "secret-token-123", nil},
		{"handler had set headers", "secret-token-123", "secret-token-123", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Length", "99999")
		}},
		{"informational status only", "secret-token-123", "secret-token-123", func(w http.ResponseWriter) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			srv := newTestServer(t, Recover(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.prepare != nil {
					tt.prepare(w)
				}
				panicking(tt.value)
			}), zap.New(core)))
			res := get(t, srv.Client(), srv.URL+"/boom", map[string]string{RequestIDHeader: "rid-500"})
			checkJSONError(t, res, http.StatusInternalServerError, "internal server error", "rid-500")
			if strings.Contains(string(res.body), "secret") {
				t.Errorf("panic text reached the client: %q", res.body)
			}
			if ce := res.header.Get("Content-Encoding"); ce != "" {
				t.Errorf("Content-Encoding %q survived", ce)
			}

			entries := logs.All()
			if len(entries) != 1 {
				t.Fatalf("%d log entries, want 1", len(entries))
			}
			e := entries[0]
			f := e.ContextMap()
			if e.Level != zapcore.ErrorLevel || f["request_id"] != "rid-500" || f["path"] != "/boom" || f["method"] != "GET" || f["response_started"] != false {
				t.Errorf("log entry %v %v", e.Level, f)
			}
			if got := fmt.Sprint(f["panic"]); !strings.Contains(got, tt.wantPanic) {
				t.Errorf("logged panic %q, want it to contain %q", got, tt.wantPanic)
			}
			if stack, _ := f["stack"].(string); !strings.Contains(stack, "middleware.panicking") {
				t.Errorf("stack does not show the panicking function:\n%s", stack)
			}
		})
	}
}

// panicking is a named frame for the stack assertion.
//
//go:noinline
func panicking(v any) { panic(v) }

func TestRecoverAfterTheResponseStartedAbortsTheConnection(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	srv := newTestServer(t, Recover(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "partial ")
		http.NewResponseController(w).Flush()
		panicking("late")
	}), zap.New(core)))

	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || err == nil {
		t.Fatalf("status %d, body %q, read error %v: want 200 and a broken body", resp.StatusCode, body, err)
	}
	if string(body) != "partial " {
		t.Errorf("body %q", body)
	}
	if logs.Len() != 1 || logs.All()[0].ContextMap()["response_started"] != true {
		t.Fatalf("log: %v", logs.All())
	}
}

func TestRecoverPassesErrAbortHandlerOn(t *testing.T) {
	t.Run("in process", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		h := Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }), zap.New(core))
		rec := httptest.NewRecorder()
		var got any
		func() {
			defer func() { got = recover() }()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		}()
		if got != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler itself", got)
		}
		if rec.Code != 200 || rec.Body.Len() != 0 || logs.Len() != 0 {
			t.Fatalf("wrote %d %q and logged %d entries; want nothing", rec.Code, rec.Body, logs.Len())
		}
	})
	t.Run("over TCP", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		srv := newTestServer(t, Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }), zap.New(core)))
		resp, err := srv.Client().Get(srv.URL)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("got a response (%d), want the connection cut", resp.StatusCode)
		}
		if logs.Len() != 0 {
			t.Fatalf("logged %v", logs.All())
		}
	})
}

func TestRecoverWithoutPanicIsTransparent(t *testing.T) {
	srv := newTestServer(t, Recover(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Handler", "yes")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "one ")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Error(err)
		}
		_, _ = io.Copy(w, strings.NewReader("two")) // through ReadFrom
	}), nil)) // nil logger: allowed
	res := get(t, srv.Client(), srv.URL, nil)
	if res.status != http.StatusAccepted || string(res.body) != "one two" || res.header.Get("X-Handler") != "yes" {
		t.Fatalf("got %d %q %v", res.status, res.body, res.header)
	}
}
