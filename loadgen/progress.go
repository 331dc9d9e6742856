package loadgen

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

const progressEvery = 250 * time.Millisecond

// progress redraws a one-line progress bar with the live request rate on w every progressEvery until
// finished is closed, then erases it.
func progress(w io.Writer, rd *round, workers []*worker, finished <-chan struct{}) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	drawProgress(w, rd, workers, finished, t.C)
}

// drawProgress redraws the progress line at each tick.
func drawProgress(w io.Writer, rd *round, workers []*worker, finished <-chan struct{}, tick <-chan time.Time) {
	var last uint64
	lastAt := rd.start
	for {
		var now time.Time
		select {
		case <-finished:
			fmt.Fprint(w, "\r\033[K")
			return
		case now = <-tick:
		}
		var done uint64
		for _, wk := range workers {
			done += wk.done.Load()
		}
		rate := float64(done-last) / now.Sub(lastAt).Seconds()
		last, lastAt = done, now
		elapsed := now.Sub(rd.start)
		frac := -1.0
		if rd.pacer.Max > 0 {
			frac = float64(done) / float64(rd.pacer.Max)
		}
		if d := rd.pacer.Duration; d > 0 {
			if f := float64(elapsed) / float64(d); frac < 0 || f > frac {
				frac = f
			}
		}
		fmt.Fprint(w, progressLine(frac, done, rate, elapsed))
	}
}

// waitUntil waits until the wall-clock time at or until ctx is cancelled, redrawing a countdown line on
// progress (when not nil) every progressEvery, erased when the wait is over.
func waitUntil(ctx context.Context, at time.Time, progress io.Writer) {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	var tick <-chan time.Time
	if progress != nil {
		tk := time.NewTicker(progressEvery)
		defer tk.Stop()
		tick = tk.C
		defer fmt.Fprint(progress, "\r\033[K")
	}
	for {
		if progress != nil {
			fmt.Fprintf(progress, "\rstarting at %s, in %.1fs\033[K", at.Format("15:04:05.000"), max(time.Until(at).Seconds(), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-tick:
		}
	}
}

// progressLine renders the bar; frac < 0 means the end is unknown.
func progressLine(frac float64, done uint64, rate float64, elapsed time.Duration) string {
	const width = 30
	bar, pct := strings.Repeat("?", width), "  ?%"
	if frac >= 0 {
		frac = min(frac, 1)
		n := int(frac * width)
		bar = strings.Repeat("=", n) + strings.Repeat(" ", width-n)
		if n < width {
			bar = bar[:n] + ">" + bar[n+1:]
		}
		pct = fmt.Sprintf("%3.0f%%", frac*100)
	}
	return fmt.Sprintf("\r[%s] %s  %d req  %.0f req/s  %.1fs\033[K", bar, pct, done, rate, elapsed.Seconds())
}
