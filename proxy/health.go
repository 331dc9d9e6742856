package proxy

import (
	"cmp"
	"context"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// HealthCheck configures active health checks: every Interval, GET Path on each target. A zero Path
// turns them off; other zero values take the defaults noted.
type HealthCheck struct {
	Path         string
	Interval     time.Duration // zero: 5s
	Timeout      time.Duration // zero: 2s
	ExpectStatus int           // zero: any 2xx
	Rise         int           // passes in a row that bring a failing target back; zero: 2
	Fall         int           // failures in a row that take a target out; zero: 3
}

func (h HealthCheck) withDefaults() HealthCheck {
	// Zero or less: the default (cmp.Or takes the first non-zero).
	h.Interval = cmp.Or(max(h.Interval, 0), DefaultHealthInterval)
	h.Timeout = cmp.Or(max(h.Timeout, 0), DefaultHealthTimeout)
	h.Rise = cmp.Or(max(h.Rise, 0), DefaultRise)
	h.Fall = cmp.Or(max(h.Fall, 0), DefaultFall)
	return h
}

// check probes u until ctx ends: once at once, then every interval.
func (p *Pool) check(ctx context.Context, u *Upstream) {
	hc := p.opts.Health.withDefaults()
	client := &http.Client{
		Transport:     p.transport,
		Timeout:       hc.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	url := u.URL.JoinPath(hc.Path).String()
	ticker := time.NewTicker(hc.Interval)
	defer ticker.Stop()
	for {
		ok, detail := probe(ctx, client, url, hc.ExpectStatus)
		if ctx.Err() != nil {
			return
		}
		p.record(u, hc, ok, detail)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// probe runs one check; detail says why it failed.
func probe(ctx context.Context, client *http.Client, url string, expect int) (ok bool, detail string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "frontgate-health-check")
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if expect != 0 && resp.StatusCode != expect || expect == 0 && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		return false, "status " + resp.Status
	}
	return true, ""
}

// record applies one check result to u's state, logging and rebuilding the wheel on a change.
func (p *Pool) record(u *Upstream, hc HealthCheck, ok bool, detail string) {
	u.mu.Lock()
	changed := false
	switch {
	case !u.down && ok:
		u.fails = 0
	case !u.down:
		u.fails++
		if u.fails >= hc.Fall {
			u.down, u.passes, changed = true, 0, true
		}
	case ok:
		u.passes++
		if u.passes >= hc.Rise {
			u.down, u.fails, changed = false, 0, true
		}
	default:
		u.passes = 0
	}
	down := u.down
	u.mu.Unlock()
	if !changed {
		return
	}
	if down {
		p.log.Warn("upstream target failing health checks", zap.String("pool", p.opts.Name), zap.String("target", u.Name),
			zap.Int("fall", hc.Fall), zap.String("last_failure", detail))
	} else {
		p.log.Info("upstream target passing health checks", zap.String("pool", p.opts.Name), zap.String("target", u.Name), zap.Int("rise", hc.Rise))
	}
	p.changed(u)
}
