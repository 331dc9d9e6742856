package static

import (
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// serveListing answers an HTML listing of the folder name: entries sorted by name, folders
// with a trailing slash, dotfiles left out, names HTML-escaped and links relative and
// URL-escaped. Symlinks are listed without a slash; following one redirects or answers 404 as a
// direct request would.
func (h *fileHandler) serveListing(w http.ResponseWriter, r *http.Request, name string) {
	entries, err := fs.ReadDir(h.fsys, name)
	if err != nil {
		h.fail(w, r, name, err)
		return
	}
	title := "/"
	if name != "." {
		title = "/" + name + "/"
	}
	var b strings.Builder
	b.WriteString("<!doctype html>\n<meta charset=\"utf-8\">\n<title>Index of ")
	b.WriteString(html.EscapeString(title))
	b.WriteString("</title>\n<h1>Index of ")
	b.WriteString(html.EscapeString(title))
	b.WriteString("</h1>\n<ul>\n")
	if name != "." {
		b.WriteString("<li><a href=\"../\">../</a></li>\n")
	}
	for _, e := range entries { // fs.ReadDir sorts by name
		n := e.Name()
		if n == "" || n[0] == '.' {
			continue
		}
		if e.IsDir() {
			n += "/"
		}
		// "./" keeps a name with a colon from reading as a URL scheme.
		href := "./" + url.PathEscape(e.Name())
		if e.IsDir() {
			href += "/"
		}
		b.WriteString("<li><a href=\"")
		b.WriteString(html.EscapeString(href))
		b.WriteString("\">")
		b.WriteString(html.EscapeString(n))
		b.WriteString("</a></li>\n")
	}
	b.WriteString("</ul>\n")
	hdr := w.Header()
	hdr["Content-Type"] = hdrTextHTML
	hdr["Content-Length"] = []string{strconv.Itoa(b.Len())}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.WriteString(w, b.String())
	}
}
