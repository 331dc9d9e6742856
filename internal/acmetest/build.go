package acmetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

const (
	pebbleModule    = "github.com/letsencrypt/pebble/v2"
	pebblePkg       = pebbleModule + "/cmd/pebble"
	challtestsrvPkg = pebbleModule + "/cmd/pebble-challtestsrv"
)

// binaries is what Start needs from the Go toolchain: the two built commands and the pebble
// module's folder in the module cache (its test certificates live there).
type binaries struct {
	pebble       string // path of the pebble executable
	challtestsrv string // path of the pebble-challtestsrv executable
	moduleDir    string // pebble's module folder, read-only in the module cache
	version      string // pebble's module version, e.g. v2.10.3
}

// loadBinaries builds the commands at most once per test process; every Start shares the result,
// an error included.
var loadBinaries = sync.OnceValues(buildBinaries)

// buildBinaries finds the pebble module that go.mod selects and builds its two commands into a
// folder under the user cache directory named by pebble's version and a hash of everything the
// build depends on, so that a later test process, or a later run, reuses them.
func buildBinaries() (*binaries, error) {
	env, err := goOutput("", "env", "GOMOD", "GOVERSION", "GOOS", "GOARCH")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(env), "\n")
	if len(lines) != 4 {
		return nil, fmt.Errorf("unexpected go env output %q", env)
	}
	gomod := lines[0]
	if gomod == "" || gomod == os.DevNull {
		return nil, errors.New("not inside a Go module: go env GOMOD is empty")
	}
	root := filepath.Dir(gomod)

	// The build list of the two commands: the modules and versions that go into the binaries.
	deps, err := goOutput(root, "list", "-deps",
		"-f", "{{with .Module}}{{.Path}} {{.Version}}{{with .Replace}} => {{.Path}} {{.Version}}{{end}}{{end}}",
		pebblePkg, challtestsrvPkg)
	if err != nil {
		return nil, err
	}
	mod, err := goOutput(root, "list", "-m", "-f", "{{.Dir}}\n{{.Version}}", pebbleModule)
	if err != nil {
		return nil, err
	}
	modLines := strings.Split(strings.TrimSpace(mod), "\n")
	if len(modLines) != 2 || modLines[0] == "" {
		return nil, fmt.Errorf("pebble module %s is not downloaded (go list -m printed %q); run go mod download", pebbleModule, mod)
	}
	b := &binaries{moduleDir: modLines[0], version: modLines[1]}

	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\nCGO_ENABLED=0\n", lines[1], lines[2], lines[3])
	h.Write([]byte(deps))
	key := hex.EncodeToString(h.Sum(nil))[:16]

	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "frontgate-acmetest", b.version, key)
	exe := ""
	if lines[2] == "windows" {
		exe = ".exe"
	}
	b.pebble = filepath.Join(dir, "pebble"+exe)
	b.challtestsrv = filepath.Join(dir, "pebble-challtestsrv"+exe)
	if isFile(b.pebble) && isFile(b.challtestsrv) {
		return b, nil
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the pebble binary cache: %w", err)
	}
	// Build into a private folder, then rename into place: another test process may be building
	// the same binaries at the same time, and a reader must never see a half-written file.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return nil, fmt.Errorf("creating a build folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	build := exec.Command("go", "build", "-o", tmp+string(filepath.Separator), pebblePkg, challtestsrvPkg)
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building pebble: %w\n%s", err, out)
	}
	for _, dst := range []string{b.pebble, b.challtestsrv} {
		if err := os.Rename(filepath.Join(tmp, filepath.Base(dst)), dst); err != nil {
			return nil, fmt.Errorf("installing %s into the cache: %w", filepath.Base(dst), err)
		}
	}
	return b, nil
}

// goOutput runs the go command in dir (the current folder if empty) and returns its standard output.
func goOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out), nil
}

// isFile reports whether path names a regular file.
func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
