package jsonerror

import (
	"context"
	"net/http"
	"strconv"
	"strings"
)

// Pages are HTML error pages by status, for clients that accept HTML: an exact status's page, else
// its class's (4xx, 5xx). "{status}" and "{request_id}" in a page are replaced. The zero value has
// none.
type Pages struct {
	byStatus map[int]string
	byClass  [6]string // index 4: 4xx, 5: 5xx
}

// NewPages makes Pages from keys like "404", "4xx" or "5xx" and the pages' HTML; another key is
// ignored (config checks them).
func NewPages(pages map[string]string) *Pages {
	p := &Pages{byStatus: map[int]string{}}
	for k, html := range pages {
		if len(k) == 3 && k[1:] == "xx" && (k[0] == '4' || k[0] == '5') {
			p.byClass[k[0]-'0'] = html
		} else if code, err := strconv.Atoi(k); err == nil {
			p.byStatus[code] = html
		}
	}
	return p
}

func (p *Pages) page(status int) string {
	if html, ok := p.byStatus[status]; ok {
		return html
	}
	if c := status / 100; c >= 4 && c <= 5 {
		return p.byClass[c]
	}
	return ""
}

type pagesKey struct{}

// WithPages gives the error answers to requests under ctx these pages.
func WithPages(ctx context.Context, p *Pages) context.Context {
	return context.WithValue(ctx, pagesKey{}, p)
}

// htmlPage is the page for status when r's context has one and the client accepts HTML.
func htmlPage(r *http.Request, status int) (string, bool) {
	p, _ := r.Context().Value(pagesKey{}).(*Pages)
	if p == nil || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		return "", false
	}
	html := p.page(status)
	if html == "" {
		return "", false
	}
	return strings.NewReplacer("{status}", strconv.Itoa(status), "{request_id}", r.Header.Get(requestIDHeader)).Replace(html), true
}
