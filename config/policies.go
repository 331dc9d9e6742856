package config

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/frontgate/frontgate/internal/httpsyntax"
	"github.com/frontgate/frontgate/middleware"
)

// checkHeaders adds a problem for every field name that is not a token, value that could split a
// header, or placeholder that does not exist.
func checkHeaders(bad problemFunc, p string, h *Headers) {
	if h == nil {
		return
	}
	for _, side := range []struct {
		name  string
		rules HeaderRules
	}{{"request", h.Request}, {"response", h.Response}} {
		for _, op := range []struct {
			name   string
			fields map[string]string
		}{{"set", side.rules.Set}, {"add", side.rules.Add}} {
			for _, k := range slices.Sorted(maps.Keys(op.fields)) {
				fp := fmt.Sprintf("%s.%s.%s.%s", p, side.name, op.name, k)
				if !httpsyntax.Token(k) {
					bad(fp, "%q is not a header field name", k)
				}
				if v := op.fields[k]; !httpsyntax.Value(v) {
					bad(fp, "the value holds a control character (CR, LF, NUL …)")
				} else if _, err := middleware.ParseTemplate(v); err != nil {
					bad(fp, "%v", err)
				}
			}
		}
		for i, k := range side.rules.Remove {
			if !httpsyntax.Token(k) {
				bad(fmt.Sprintf("%s.%s.remove[%d]", p, side.name, i), "%q is not a header field name", k)
			}
		}
	}
}

// validateRedirect checks a redirect route: a target, a redirect status, and no upstream.
func (c *Config) validateRedirect(bad problemFunc, p string, r Route) {
	if r.Upstream != "" {
		bad(p+".upstream", "a redirect route forwards nothing: give redirect or upstream, not both")
	}
	switch rd := r.Redirect; {
	case rd.To == "":
		bad(p+".redirect.to", "missing; give the target, like https://example.com{path}{query}")
	default:
		if !httpsyntax.Value(rd.To) {
			bad(p+".redirect.to", "the target holds a control character (CR, LF, NUL …)")
		} else if _, err := middleware.ParseTemplate(rd.To); err != nil {
			bad(p+".redirect.to", "%v", err)
		}
	}
	switch r.Redirect.Status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		bad(p+".redirect.status", "%d is not a redirect status (use 301, 302, 303, 307 or 308)", r.Redirect.Status)
	}
}

// fillAuth fills a's defaults: the realm and the users file's path against the config's folder,
// or the forward timeout.
func (c *Config) fillAuth(a *Auth) {
	if a == nil {
		return
	}
	if f := a.Forward; f != nil {
		orDefault(&f.Timeout, DefaultForwardAuthTimeout)
	}
	if a.Basic == nil {
		return
	}
	orDefault(&a.Basic.Realm, "frontgate")
	if f := &a.Basic.UsersFile; *f != "" && !c.Embedded && !filepath.IsAbs(*f) {
		*f = filepath.Join(c.Dir, *f)
	}
}

// checkAuth adds a problem for an auth that is not one of basic and forward, a basic auth without
// users, a hash that is not bcrypt or a users file that cannot be read, and a forward auth whose url,
// header names or timeout are wrong.
func checkAuth(bad problemFunc, p string, a *Auth) {
	if a == nil {
		return
	}
	switch {
	case a.Basic == nil && a.Forward == nil:
		bad(p, "give basic: {users: {NAME: BCRYPT_HASH}}, basic: {users_file: htpasswd} or forward: {url: URL}")
		return
	case a.Basic != nil && a.Forward != nil:
		bad(p+".forward", "give basic or forward, not both")
	}
	if a.Forward != nil {
		checkForwardAuth(bad, p+".forward", a.Forward)
	}
	b := a.Basic
	if b == nil {
		return
	}
	if len(b.Users) == 0 && b.UsersFile == "" {
		bad(p+".basic", "give users or users_file")
	}
	for _, name := range slices.Sorted(maps.Keys(b.Users)) {
		if _, err := bcrypt.Cost([]byte(b.Users[name])); err != nil {
			bad(p+".basic.users."+name, "not a bcrypt hash (make one with htpasswd -nB %s)", name)
		}
	}
	if b.UsersFile != "" {
		if _, err := ReadHtpasswd(b.UsersFile); err != nil {
			bad(p+".basic.users_file", "%v", err)
		}
	}
}

// uncopiable are the fields that frame or route a request, never copied from an auth answer.
var uncopiable = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Upgrade"}

// checkForwardAuth adds a problem for a url that is not http(s)://host[/path][?query] without
// user:password@, and a header name that is not a token or names a field that frames the request (a
// negative timeout is the decoder's problem; zero is the default).
func checkForwardAuth(bad problemFunc, p string, f *ForwardAuth) {
	switch u, err := url.Parse(f.URL); {
	case f.URL == "":
		bad(p+".url", "missing; give the auth service's URL, like http://127.0.0.1:9100/verify")
	case err == nil && u.User != nil: // before the URL is quoted: it holds a password
		bad(p+".url", "no user:password@ in the url: the client's own credentials are passed on")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "":
		bad(p+".url", "%q is not an http or https URL with a host", f.URL)
	case u.Fragment != "":
		bad(p+".url", "%q: a fragment (#…) is never sent", f.URL)
	}
	for i, h := range f.CopyHeaders {
		switch {
		case !httpsyntax.Token(h):
			bad(fmt.Sprintf("%s.copy_headers[%d]", p, i), "%q is not a header field name", h)
		case slices.Contains(uncopiable, httpsyntax.CanonicalKey(h)):
			bad(fmt.Sprintf("%s.copy_headers[%d]", p, i), "%s frames or routes the request: it cannot be copied", h)
		}
	}
}

// ReadHtpasswd reads an htpasswd file of bcrypt entries (NAME:$2y$…, as htpasswd -B writes them);
// blank lines and # comments are skipped. The error names the first line that is not such an entry.
func ReadHtpasswd(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read users file: %w", err)
	}
	users := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if _, err := bcrypt.Cost([]byte(hash)); !ok || name == "" || err != nil {
			return nil, fmt.Errorf("%s line %d: not NAME:BCRYPT_HASH (htpasswd -B writes those)", path, i+1)
		}
		users[name] = hash
	}
	return users, nil
}

// checkCORS adds a problem for a policy without origins, an origin that is not scheme://host[:port],
// or a method or header name that is not a token.
func checkCORS(bad problemFunc, p string, c *CORS) {
	if c == nil {
		return
	}
	if len(c.Origins) == 0 {
		bad(p+".origins", "give the origins allowed, like [\"https://app.example.com\"], or [\"*\"]")
	}
	for i, o := range c.Origins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			bad(fmt.Sprintf("%s.origins[%d]", p, i), "%q is not an origin: scheme://host[:port], nothing after", o)
		}
	}
	for i, m := range c.Methods {
		if !methodToken.MatchString(m) {
			bad(fmt.Sprintf("%s.methods[%d]", p, i), "%q is not a method; write methods in upper case, like PUT", m)
		}
	}
	for i, h := range c.Headers {
		if !httpsyntax.Token(h) {
			bad(fmt.Sprintf("%s.headers[%d]", p, i), "%q is not a header field name", h)
		}
	}
}

// checkErrorPages adds a problem for a key that is not a 4xx or 5xx status or class, and for a page
// that cannot be read.
func checkErrorPages(bad problemFunc, pages map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(pages)) {
		p := "error_pages." + k
		code, err := strconv.Atoi(k)
		if !(k == "4xx" || k == "5xx" || err == nil && code >= 400 && code <= 599) {
			bad(p, "%q is not an error status like 404 or a class like 5xx", k)
			continue
		}
		if _, err := os.ReadFile(pages[k]); err != nil {
			bad(p, "cannot read the page: %v", err)
		}
	}
}

// ReadErrorPages reads the pages' HTML by key (config checked the files).
func ReadErrorPages(pages map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(pages))
	for k, f := range pages {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("error page %s: %w", k, err)
		}
		out[k] = string(b)
	}
	return out, nil
}

// checkRewrite adds a problem for a rewrite without a regex, or without a target path.
func checkRewrite(bad problemFunc, p string, r *Rewrite, given map[string]bool) {
	if r == nil {
		return
	}
	if r.Regex.Regexp == nil && !given[p+".rewrite.regex"] { // given but unreadable: said already
		bad(p+".rewrite.regex", "missing; give a regular expression (RE2), like ^/v1/(.*)$")
	}
	if !strings.HasPrefix(r.To, "/") {
		bad(p+".rewrite.to", "give the new path, starting with \"/\", like /api/$1")
	}
}

// fillCompress fills the defaults of the compress setting found at path p: the keys not given.
func fillCompress(c *Compress, p string, given map[string]bool) {
	if c == nil {
		return
	}
	if !given[p+".encodings"] {
		c.Encodings = slices.Clone(DefaultEncodings)
	}
	if !given[p+".min_size"] {
		c.MinSize = DefaultMinSize
	}
}

// checkCompress adds a problem for an empty list of encodings and a min_size past MaxMinSize (an
// unknown encoding is the decoder's problem).
func checkCompress(bad problemFunc, p string, c *Compress) {
	if c == nil {
		return
	}
	if len(c.Encodings) == 0 {
		bad(p+".encodings", "give at least one of zstd, br or gzip (compress: false turns compression off)")
	}
	if c.MinSize > MaxMinSize {
		bad(p+".min_size", "at most 1MiB: a body of unknown length is held in memory up to min_size")
	}
}
