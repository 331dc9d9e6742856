package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's tour runs as written, with curl, against the binary on its embedded default (on a free
// port instead of 8080, which may be taken on a test machine).
func TestReadmeTour(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, tour, ok := strings.Cut(string(readme), "<!-- tour")
	tour, _, ok2 := strings.Cut(tour, "<!-- /tour -->")
	_, script, ok3 := strings.Cut(tour, "```sh\n")
	script, _, ok4 := strings.Cut(script, "```")
	if !ok || !ok2 || !ok3 || !ok4 {
		t.Fatal("README has no tour block between <!-- tour --> markers")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the README tour needs curl: apt-get install -y curl")
	}
	gw := startGateway(t)
	script = strings.ReplaceAll(script, "localhost:8080", gw.Addr)
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir = t.TempDir()
	var stderr strings.Builder
	cmd.Stderr = &stderr // curl's progress meters
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tour failed: %v\n%s\n%s", err, out, stderr.String())
	}
	for _, want := range []string{
		"Hello, world",
		`{"key":"v","name":"alice"}` + "\n" + `{"key":"v","name":"alice"}`,
		"HTTP/1.1 400 Bad Request", `{"error":"form field \"key\" is missing","status":400,"request_id":"`,
		`"form":{"image_id":["2"]}`, `"files":{"image":[{"filename":"photo.jpg","size":65536}]}`,
		"Content-Type: text/html", "Content-Type: font/ttf", "\n404\n", "Server-Timing: recv;dur=0.000, handler;dur=",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("tour output lacks %q:\n%s", want, out)
		}
	}
}
