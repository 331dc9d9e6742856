package loadgen

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	l := progressLine(0.5, 1234, 5678.9, 1500*time.Millisecond)
	for _, want := range []string{"\r[", "===============>", " 50%", "1234 req", "5679 req/s", "1.5s"} {
		if !strings.Contains(l, want) {
			t.Errorf("progress line %q lacks %q", l, want)
		}
	}
	if l := progressLine(-1, 1, 1, 0); !strings.Contains(l, "?%") {
		t.Errorf("unknown end: %q", l)
	}
}

func TestDrawProgress(t *testing.T) {
	start := time.Now()
	rd := &round{pacer: Pacer{Max: 400}, start: start}
	workers := []*worker{{}, {}}
	workers[0].done.Store(100)
	workers[1].done.Store(50)
	tick := make(chan time.Time)
	finished := make(chan struct{})
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		drawProgress(&out, rd, workers, finished, tick)
	}()
	tick <- start.Add(time.Second)
	close(finished)
	<-done
	got := out.String()
	for _, want := range []string{" 38%", "150 req", "150 req/s", "1.0s", "\r\033[K"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress output %q lacks %q", got, want)
		}
	}
	if !strings.HasSuffix(got, "\r\033[K") {
		t.Errorf("progress output %q does not end by erasing the line", got)
	}
}

func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe is reported as a terminal")
	}
	if p := ProgressWriter(w); p != nil {
		t.Errorf("ProgressWriter(pipe) = %v, want nil", p)
	}
	if p := ProgressWriter(new(bytes.Buffer)); p != nil {
		t.Errorf("ProgressWriter(buffer) = %v, want nil", p)
	}
}
