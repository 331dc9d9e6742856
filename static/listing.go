package static

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// listingStyle is the listing's whole stylesheet, inline so that a listing makes no further
// request whatever the mount; it follows the demo site's css/base.css (colors, fonts, spacing)
// without its web font, which a mount cannot count on reaching.
const listingStyle = `
:root {
  --ink: #1d2430;
  --paper: #fbfaf7;
  --accent: #c2410c;
  --rule: #e4e0d8;
  --muted: #5b6372;
  --mono: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
body {
  margin: 0 auto;
  max-width: 60rem;
  padding: 0 1.5rem 2rem;
  background: var(--paper);
  color: var(--ink);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif;
}
h1 {
  margin: 1.5rem 0 0;
  padding: 1.25rem 2rem;
  background: var(--ink);
  color: var(--paper);
  border-bottom: 6px solid var(--accent);
  font: 600 1.25rem/1.3 var(--mono);
  overflow-wrap: anywhere;
}
table { width: 100%; border-collapse: collapse; }
th, td { padding: .45rem 1rem; text-align: left; border-bottom: 1px solid var(--rule); }
th {
  font-size: .75rem;
  font-weight: 600;
  letter-spacing: .06em;
  text-transform: uppercase;
  color: var(--muted);
}
td { font-family: var(--mono); font-size: .9rem; }
td:first-child { overflow-wrap: anywhere; }
th:nth-child(n+2), td:nth-child(n+2) { width: 1%; white-space: nowrap; }
th:nth-child(2), td:nth-child(2) { text-align: right; font-variant-numeric: tabular-nums; }
td:nth-child(n+2) { color: var(--muted); }
tbody tr:hover { background: #f1eee8; }
a { color: var(--ink); text-decoration: none; }
a:hover { color: var(--accent); text-decoration: underline; }
td.dir a { font-weight: 700; }
p.empty { margin: 1rem; color: var(--muted); }
`

// hdrListingCSP is the Content-Security-Policy of every listing; never modified in place. It lets
// the page use its own inline stylesheet (by hash) and its empty data: icon, and nothing else: no
// script and no other request, should a file name ever get past the escaping.
var hdrListingCSP = []string{"default-src 'none'; style-src 'sha256-" + styleHash(listingStyle) +
	"'; img-src data:; base-uri 'none'; form-action 'none'"}

// styleHash is the base64 SHA-256 of an inline stylesheet, as a CSP hash source names it.
func styleHash(css string) string {
	sum := sha256.Sum256([]byte(css))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// listingEntry is one row of a listing.
type listingEntry struct {
	name    string
	dir     bool      // a folder, or a symlink to one: listed with a trailing slash
	size    int64     // in bytes; -1 (folders, non-regular files, unreadable entries) shows "—"
	modTime time.Time // zero (unknown, as in embed.FS) shows "—"
}

// serveListing answers an HTML listing of the folder name: a table of the entries with their
// sizes and modification times (UTC), folders first and then files, each sorted by name, folders
// with a trailing slash, dotfiles left out, names HTML-escaped and links relative and
// URL-escaped, and a link to the parent folder below the mount's root. A symlink is listed as
// what it points to inside the folder (a folder, or a file with the target's size and time); one
// that does not resolve there is listed as a file without size or time, and following it answers
// 404 as a direct request would. A listing is built anew for every request and carries no ETag or
// Last-Modified.
func (h *fileHandler) serveListing(w http.ResponseWriter, r *http.Request, name string) {
	dirEntries, err := fs.ReadDir(h.fsys, name)
	if err != nil {
		h.fail(w, r, name, err)
		return
	}
	entries := make([]listingEntry, 0, len(dirEntries))
	for _, e := range dirEntries {
		if n := e.Name(); n != "" && n[0] != '.' {
			if le, ok := h.describeEntry(name, e); ok {
				entries = append(entries, le)
			}
		}
	}
	entries = h.hideSiblings(entries)
	slices.SortFunc(entries, func(a, b listingEntry) int {
		if a.dir != b.dir {
			if a.dir {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.name, b.name)
	})

	title := h.prefix + "/"
	if name != "." {
		title += name + "/"
	}
	title = html.EscapeString("Index of " + title)
	var b strings.Builder
	b.Grow(len(listingStyle) + 512 + 160*len(entries))
	b.WriteString("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n" +
		"<link rel=\"icon\" href=\"data:,\">\n<title>")
	b.WriteString(title)
	b.WriteString("</title>\n<style>")
	b.WriteString(listingStyle)
	b.WriteString("</style>\n</head>\n<body>\n<h1>")
	b.WriteString(title)
	b.WriteString("</h1>\n<table>\n<thead><tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr></thead>\n<tbody>\n")
	if name != "." {
		b.WriteString("<tr><td class=\"dir\"><a href=\"../\">../</a></td><td></td><td></td></tr>\n")
	}
	for _, e := range entries {
		writeListingRow(&b, e)
	}
	b.WriteString("</tbody>\n</table>\n")
	if len(entries) == 0 {
		b.WriteString("<p class=\"empty\">Nothing to list.</p>\n")
	}
	b.WriteString("</body>\n</html>\n")

	hdr := w.Header()
	hdr["Content-Type"] = hdrTextHTML
	hdr["Content-Security-Policy"] = hdrListingCSP
	hdr["Content-Length"] = []string{strconv.Itoa(b.Len())}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.WriteString(w, b.String())
	}
}

// describeEntry describes the entry e of the folder dir; ok is false when e vanished since the
// folder was read.
func (h *fileHandler) describeEntry(dir string, e fs.DirEntry) (le listingEntry, ok bool) {
	le = listingEntry{name: e.Name(), dir: e.IsDir(), size: -1}
	var fi fs.FileInfo
	var err error
	if e.Type()&fs.ModeSymlink != 0 {
		// Stat through fsys follows the link only as far as fsys allows (an os.Root stays inside).
		if fi, err = fs.Stat(h.fsys, path.Join(dir, e.Name())); err != nil {
			return le, true
		}
		le.dir = fi.IsDir()
	} else if fi, err = e.Info(); err != nil {
		return le, !errors.Is(err, fs.ErrNotExist)
	}
	if fi.Mode().IsRegular() {
		le.size = fi.Size()
	}
	if t := fi.ModTime(); !isZeroTime(t) {
		le.modTime = t
	}
	return le, true
}

// writeListingRow writes the table row of e.
func writeListingRow(b *strings.Builder, e listingEntry) {
	// "./" keeps a name with a colon from reading as a URL scheme.
	href := "./" + url.PathEscape(e.name)
	text := e.name
	if e.dir {
		href += "/"
		text += "/"
	}
	if e.dir {
		b.WriteString("<tr><td class=\"dir\"><a href=\"")
	} else {
		b.WriteString("<tr><td><a href=\"")
	}
	b.WriteString(html.EscapeString(href))
	b.WriteString("\">")
	b.WriteString(html.EscapeString(text))
	b.WriteString("</a></td>")
	if e.size >= 0 {
		b.WriteString("<td title=\"")
		b.WriteString(strconv.FormatInt(e.size, 10))
		if e.size == 1 {
			b.WriteString(" byte\">")
		} else {
			b.WriteString(" bytes\">")
		}
		b.WriteString(formatSize(e.size))
	} else {
		b.WriteString("<td>—")
	}
	b.WriteString("</td><td>")
	if e.modTime.IsZero() {
		b.WriteString("—")
	} else {
		b.WriteString(e.modTime.UTC().Format("2006-01-02 15:04"))
	}
	b.WriteString("</td></tr>\n")
}

// formatSize writes n bytes for people: "0 B", "999 B", "1.2 KiB", "9.9 KiB", "10 KiB",
// "200 KiB", "1.0 MiB": one decimal below 10 of a unit, whole units above, in powers of 1024.
func formatSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	const units = "KMGTPE"
	v, u := float64(n)/1024, 0
	for v >= 1023.5 && u < len(units)-1 { // 1023.5 and up would round to 1024
		v /= 1024
		u++
	}
	prec := 0
	if v < 9.95 { // 9.95 and up would round to 10.0
		prec = 1
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + " " + units[u:u+1] + "iB"
}
