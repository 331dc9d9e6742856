package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawGet sends a request line exactly as written (Go's client would clean the path) and returns the
// status and body.
func rawGet(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// No request reaches a file outside a mount's folder, or a dotfile inside it, through the binary.
func TestStaticNeverEscapes(t *testing.T) {
	dir := t.TempDir()
	const secret = "TOPSECRET-7d1f"
	writeFile(t, dir, "secret.txt", secret)
	writeFile(t, dir, "pub/ok.txt", "fine")
	writeFile(t, dir, "pub/.env", secret)
	writeFile(t, dir, "pub/.git/config", secret)
	writeFile(t, dir, "pub/sub/inner.txt", "inner")
	if err := os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(dir, "pub", "out.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(dir, "pub", "sub", "rel.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(dir, "pub", "updir")); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "gw.yaml", "log: {format: json}\nstatic:\n  - {prefix: /files/, path: pub}\n  - {prefix: /list/, path: pub, show_index: true}\n")
	gw := startGateway(t, "-config", cfg)

	if status, body := rawGet(t, gw.Addr, "/files/ok.txt"); status != 200 || body != "fine" {
		t.Fatalf("plain file: %d %q", status, body)
	}
	attempts := []string{
		"/files/../secret.txt", "/files/..%2fsecret.txt", "/files/%2e%2e/secret.txt", "/files/%2e%2e%2fsecret.txt",
		"/files/..%5csecret.txt", `/files/..\secret.txt`, "/files/sub/..%2f..%2fsecret.txt", "/files/%00", "/files/ok.txt%00",
		"/files/out.txt", "/files/sub/rel.txt", "/files/updir/secret.txt", "/files/.env", "/files/.git/config",
		"/files/%2eenv", "/files//..//secret.txt", "/files/./../secret.txt", "/list/updir/", "/list/../secret.txt",
		"/files/" + dir + "/secret.txt", "/files/%2f" + strings.TrimPrefix(dir, "/") + "/secret.txt",
	}
	for _, target := range attempts {
		status, body := rawGet(t, gw.Addr, target)
		if strings.Contains(body, secret) {
			t.Errorf("GET %s leaked the secret (status %d)", target, status)
		}
		if status == 200 || status >= 500 {
			t.Errorf("GET %s = %d, want a 3xx or 4xx", target, status)
		}
	}
	if status, body := rawGet(t, gw.Addr, "/list/"); status != 200 || !strings.Contains(body, "ok.txt") || strings.Contains(body, ".env") {
		t.Errorf("listing: %d %q", status, body)
	}
	if status, _ := rawGet(t, gw.Addr, "/files/sub/"); status != 404 && status != 403 {
		t.Errorf("folder without show_index: %d, want 403 or 404", status)
	}
}
