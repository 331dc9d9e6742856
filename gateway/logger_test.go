package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frontgate/frontgate/config"
)

// A console-format log written to a file holds plain text: colour codes only go to a terminal.
func TestConsoleLogToFileHasNoColour(t *testing.T) {
	path := filepath.Join(t.TempDir(), "frontgate.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log, stop, err := NewLogger(config.Log{Level: "info", Format: "console"}, f)
	if err != nil {
		t.Fatal(err)
	}
	log.Warn("something to see")
	stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, "WARN") || !strings.Contains(s, "something to see") || strings.Contains(s, "\x1b[") {
		t.Errorf("log file holds %q, want a plain WARN line", s)
	}
}
