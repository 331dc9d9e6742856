package demo

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/frontgate/frontgate/config"
	"github.com/frontgate/frontgate/loadgen"
	"github.com/frontgate/frontgate/static"
)

// ImageSize is the size of the generated image that SelfTargets uploads to the embedded default's /demo2.
const ImageSize = 32 << 10

// ProbeTimeout bounds the one request SelfTargets sends through a forwarded route before the run.
const ProbeTimeout = 10 * time.Second

// SelfTargets returns the requests that `frontgate selftest` drives against the gateway at baseURL (with
// or without a trailing slash) running cfg, in round-robin order, and the routes it leaves out with the
// reason. Each target is named by its URL path (or, when two share a path, by its route's name); extra
// headers, which may be nil, are added to every request, and the slice is not modified.
//
//   - With cfg.Demo: GET / ("Hello, world") and POST /demo1/x with the urlencoded form key=v.
//   - Each static mount: GET of one file that exists in its folder, its index.html when it has one at
//     the top, else the first regular file in lexical order (dot files left out); a mount without a
//     file is skipped.
//   - Each forwarded route: one request to its path (a path_prefix route: the prefix), with GET unless
//     methods leave it out (then the first method listed, without a body), sent once through the
//     gateway first: a route whose probe fails or answers 502, 503 or 504 (its upstream cannot be
//     reached) is skipped. With the embedded default config, POST /demo2 carries a multipart form
//     (image_id=2 and a JPEG of ImageSize bytes as the file "image").
//   - Redirect routes, and every route, mount or demo route with auth, are skipped.
//
// Routes and mounts restricted to hosts get a Host header naming the first (for *.example.com,
// www.example.com). The error is non-nil when no target is left.
func SelfTargets(ctx context.Context, cfg *config.Config, baseURL string, extra []loadgen.Header) ([]loadgen.Target, []loadgen.Skipped, error) {
	base := strings.TrimRight(baseURL, "/")
	var (
		targets []loadgen.Target
		skipped []loadgen.Skipped
		probed  = map[int]string{} // the route name of each forwarded route's target, by index
	)
	add := func(name, method, p string, hosts []string, body []byte, h ...loadgen.Header) {
		hs := append(append([]loadgen.Header(nil), extra...), h...)
		if len(hosts) > 0 {
			hs = append(hs, loadgen.Header{Key: "Host", Value: strings.Replace(hosts[0], "*", "www", 1)})
		}
		if slices.ContainsFunc(targets, func(t loadgen.Target) bool { return t.Name == p }) {
			p = name
		}
		targets = append(targets, loadgen.Target{Name: p, URL: base + p, Method: method, Header: hs, Body: body})
	}
	skip := func(name, format string, a ...any) {
		skipped = append(skipped, loadgen.Skipped{Name: name, Reason: fmt.Sprintf(format, a...)})
	}

	if cfg.Demo && cfg.Defaults.Auth != nil {
		skip("hello", "needs auth (defaults.auth)")
		skip("demo1", "needs auth (defaults.auth)")
	} else if cfg.Demo {
		add("hello", "GET", "/", nil, nil)
		add("demo1", "POST", "/demo1/x", nil, []byte("key=v"),
			loadgen.Header{Key: "Content-Type", Value: "application/x-www-form-urlencoded"})
	}
	for _, m := range cfg.Static {
		file, err := firstFile(cfg, m.Path)
		switch {
		case m.Auth != nil:
			skip(m.Name, "needs auth")
		case err != nil:
			skip(m.Name, "%v", err)
		default:
			add(m.Name, "GET", m.Prefix+file, m.Hosts, nil)
		}
	}
	for _, rt := range cfg.Routes {
		p := cmp.Or(rt.Path, rt.PathPrefix)
		switch {
		case rt.Redirect != nil:
			skip(rt.Name, "redirect route")
			continue
		case rt.Auth != nil:
			skip(rt.Name, "needs auth")
			continue
		case cfg.Embedded && rt.Path == "/demo2":
			body, ctype, err := loadgen.EncodeMultipart([]loadgen.FormField{
				{Key: "image_id", Value: []byte("2")},
				{Key: "image", Value: JPEG(ImageSize), File: true, Filename: "image.jpg", ContentType: "image/jpeg"},
			})
			if err != nil {
				return nil, nil, err
			}
			add(rt.Name, "POST", p, rt.Hosts, body, loadgen.Header{Key: "Content-Type", Value: ctype})
		case len(rt.Methods) == 0 || slices.Contains(rt.Methods, "GET"):
			add(rt.Name, "GET", p, rt.Hosts, nil)
		default:
			add(rt.Name, rt.Methods[0], p, rt.Hosts, nil)
		}
		probed[len(targets)-1] = rt.Name
	}

	failed := make([]error, len(targets))
	var wg sync.WaitGroup
	for i := range probed {
		wg.Go(func() { failed[i] = probe(ctx, targets[i]) })
	}
	wg.Wait()
	kept := targets[:0]
	for i, t := range targets {
		if failed[i] != nil {
			skip(probed[i], "%v", failed[i])
			continue
		}
		kept = append(kept, t)
	}
	if len(kept) == 0 {
		return nil, skipped, errors.New("self mode: the config has no route that can be driven")
	}
	return kept, skipped, nil
}

// firstFile picks the file of a static folder that SelfTargets requests: index.html at the top, else
// the first regular file in lexical order, as a slash path relative to the folder.
func firstFile(cfg *config.Config, folder string) (string, error) {
	var fsys fs.FS
	if cfg.Embedded {
		sub, err := fs.Sub(static.Site, folder)
		if err != nil {
			return "", fmt.Errorf("folder %s: %w", folder, err)
		}
		fsys = sub
	} else {
		fsys = os.DirFS(folder)
	}
	if fi, err := fs.Stat(fsys, "index.html"); err == nil && fi.Mode().IsRegular() {
		return "index.html", nil
	}
	var file string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case p != "." && strings.HasPrefix(d.Name(), "."):
			if d.IsDir() {
				return fs.SkipDir
			}
		case d.Type().IsRegular():
			file = p
			return fs.SkipAll
		}
		return nil
	})
	if err == nil && file == "" {
		err = errors.New("no file to request")
	}
	if err != nil {
		return "", fmt.Errorf("folder %s: %w", folder, err)
	}
	return file, nil
}

// probe sends t once and returns why its route cannot be driven: no answer, or an answer saying that
// the upstream cannot be reached (502, 503, 504); nil otherwise.
func probe(ctx context.Context, t loadgen.Target) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, cmp.Or(t.Method, "GET"), t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	for _, h := range t.Header {
		if strings.EqualFold(h.Key, "Host") {
			req.Host = h.Value
		} else {
			req.Header.Add(h.Key, h.Value)
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("probe %s %s: %w", req.Method, req.URL.Path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return fmt.Errorf("upstream unreachable: probe %s %s answered %s", req.Method, req.URL.Path, resp.Status)
	}
	return nil
}

// JPEG generates a deterministic payload of size bytes shaped like a JPEG file: the SOI and JFIF APP0
// markers, pseudo-random scan data without marker bytes, and the EOI marker. It is not a decodable
// image. A size too small for the markers (32 bytes) is raised to that minimum.
func JPEG(size int) []byte {
	head := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
		0x00, 0x01, 0x00, 0x00, 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00}
	size = max(size, len(head)+2)
	b := make([]byte, size)
	copy(b, head)
	x := uint32(2463534242)
	for i := len(head); i < size-2; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
		if b[i] == 0xFF {
			b[i] = 0xFE
		}
	}
	b[size-2], b[size-1] = 0xFF, 0xD9
	return b
}
