package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	if left, _ := os.ReadDir(cmd.Dir); len(left) != 0 {
		t.Errorf("the tour left %s in the working folder", left[0].Name())
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

// readmeYAML is the README's yaml block between <!-- name --> and <!-- /name -->.
func readmeYAML(t *testing.T, name string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "<!-- "+name)
	block, _, ok2 := strings.Cut(block, "<!-- /"+name+" -->")
	_, yaml, ok3 := strings.Cut(block, "```yaml\n")
	yaml, _, ok4 := strings.Cut(yaml, "```")
	if !ok || !ok2 || !ok3 || !ok4 {
		t.Fatalf("README has no yaml block between <!-- %s --> markers", name)
	}
	return yaml
}

// The README's hosts-and-HTTPS config passes check and serves as it says, given its files: each name
// gets its certificate, and docs.example.com its static mount.
func TestReadmeHostsConfig(t *testing.T) {
	yaml := readmeYAML(t, "hosts-config")
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	exampleCert, _ := selfSigned(t, filepath.Join(dir, "certs"), "example", "example.com", "*.example.com")
	apiCert, _ := selfSigned(t, filepath.Join(dir, "certs"), "api", "api.example.com")
	if err := os.MkdirAll(filepath.Join(dir, "site", "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "site", "docs"), "index.html", "the docs")
	// The redirect listener's :8080 may be taken on a test machine: any free port instead.
	yaml = strings.Replace(yaml, `redirect_http: ":8080"`, `redirect_http: "127.0.0.1:0"`, 1)
	cfg := writeFile(t, dir, "gw.yaml", yaml)

	if out, err := exec.Command(binary, "check", "-config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	gw := startGateway(t, "-config", cfg)
	for _, tt := range []struct{ name, wantCertName string }{
		{"docs.example.com", "*.example.com"}, {"api.example.com", "api.example.com"}, {"example.com", "example.com"},
	} {
		if leaf := servedLeaf(t, gw.Addr, tt.name); !slices.Contains(leaf.DNSNames, tt.wantCertName) {
			t.Errorf("%s was served the certificate for %v", tt.name, leaf.DNSNames)
		}
	}
	req, _ := http.NewRequest("GET", "https://"+gw.Addr+"/", nil)
	req.Host = "docs.example.com" // routing goes by the Host header, the certificate by SNI
	resp, err := tlsClientFor(t, "docs.example.com", exampleCert, apiCert).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "the docs" {
		t.Errorf("docs.example.com / = %d %q", resp.StatusCode, b)
	}
}

// The README's replicas config passes check, without a Redis to connect to, and with no warning.
func TestReadmeReplicasConfig(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "gw.yaml", readmeYAML(t, "replicas-config"))
	stdout, stderr, code := runCmd(t, "check", "-config", cfg)
	if code != 0 || strings.Contains(stdout, "warning") {
		t.Errorf("check: exit %d\n%s%s", code, stdout, stderr)
	}
}
