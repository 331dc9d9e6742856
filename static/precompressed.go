package static

import (
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/frontgate/frontgate/internal/httpsyntax"
)

// Precompressed siblings: with Options.Precompressed set, a file x.css that has x.css.zst, x.css.br
// or x.css.gz beside it is answered with the sibling's bytes, as they are, to a client whose
// Accept-Encoding takes that coding (the client's weights first, then the order of
// Options.Precompressed). Such an answer has the Content-Type of x.css (by its extension; a file
// whose type its extension does not tell gets no sibling), Content-Encoding, Vary:
// Accept-Encoding, no Accept-Ranges, and an ETag and Last-Modified of the sibling's own (the
// ETag marked with the coding, so that no two encodings share one); every answer of x.css, the
// plain one too, carries Vary: Accept-Encoding while a sibling exists. A Range request is answered
// from x.css (ranges are of the plain bytes). Asked for by its own name, x.css.gz is an ordinary
// file (application/gzip, no Content-Encoding).
//
// Which siblings a file has is remembered per file (up to maxSiblingSets files; past that, looked
// up on each request) and checked again by a stat of each possible sibling at most once per
// revalidateEvery, so that a file without siblings costs no stat per request. The siblings'
// contents are cached like any small file.
//
// A listing leaves out a sibling whose plain file is listed beside it: it is one more encoding of
// that file, not a file of its own.

// siblingExt maps a coding to its sibling's extension.
var siblingExt = map[string]string{"zstd": ".zst", "br": ".br", "gzip": ".gz"}

// maxSiblingSets bounds the files whose siblings are remembered.
const maxSiblingSets = 16 << 10

// siblingSet is what precompressed siblings a file has. Immutable but for checked: a change
// stores a new set.
type siblingSet struct {
	checked atomic.Int64  // when (UnixNano of Options.Now) the siblings were last looked up
	files   []siblingFile // the siblings found, in the order of Options.Precompressed
	codings []string      // files' codings, in the same order, for PreferredCoding
}

// siblingFile is one precompressed sibling as it was found.
type siblingFile struct {
	coding   string
	name     string // the sibling in fsys: the plain file's name with the coding's extension
	cacheKey string // its cache key: "\x00" and name, a key no request can have (requestKey refuses NUL)
	size     int64
	modTime  time.Time
}

// servePrecompressed answers r from a precompressed sibling of the plain file statName when the
// client takes one, and reports whether it did. While statName has siblings it sets Vary on the
// answer, whoever serves it.
func (h *fileHandler) servePrecompressed(w http.ResponseWriter, r *http.Request, statName string) bool {
	ct := mime.TypeByExtension(path.Ext(statName))
	if ct == "" {
		return false
	}
	set := h.siblingsOf(statName)
	if len(set.files) == 0 {
		return false
	}
	w.Header()["Vary"] = hdrVaryAE
	if r.Header["Range"] != nil {
		return false // ranges are of the plain file's bytes
	}
	coding := httpsyntax.PreferredCoding(r.Header["Accept-Encoding"], set.codings)
	if coding == "" {
		return false
	}
	for i := range set.files {
		if sib := &set.files[i]; sib.coding == coding {
			return h.serveSibling(w, r, ct, sib)
		}
	}
	return false
}

// siblingsOf returns the siblings of statName, looked up again when the remembered ones were
// checked longer than revalidateEvery ago.
func (h *fileHandler) siblingsOf(statName string) *siblingSet {
	now := h.now().UnixNano()
	v, ok := h.siblings.Load(statName)
	if ok {
		set := v.(*siblingSet)
		last := set.checked.Load()
		if now-last < int64(revalidateEvery) && now >= last || !set.checked.CompareAndSwap(last, now) {
			return set
		}
		if fresh := h.lookSiblings(statName, now); !sameSiblings(fresh.files, set.files) {
			h.siblings.Store(statName, fresh)
			return fresh
		}
		return set
	}
	set := h.lookSiblings(statName, now)
	if h.siblingCount.Load() < maxSiblingSets {
		if _, loaded := h.siblings.LoadOrStore(statName, set); !loaded {
			h.siblingCount.Add(1)
		}
	}
	return set
}

// lookSiblings stats every possible sibling of statName.
func (h *fileHandler) lookSiblings(statName string, now int64) *siblingSet {
	set := &siblingSet{}
	for _, coding := range h.precompressed {
		name := statName + siblingExt[coding]
		fi, err := fs.Stat(h.fsys, name)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		set.files = append(set.files, siblingFile{coding: coding, name: name, cacheKey: "\x00" + name, size: fi.Size(), modTime: fi.ModTime()})
		set.codings = append(set.codings, coding)
	}
	set.checked.Store(now)
	return set
}

func sameSiblings(a, b []siblingFile) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name || a[i].size != b[i].size || !a[i].modTime.Equal(b[i].modTime) {
			return false
		}
	}
	return true
}

// serveSibling answers from the sibling sib, of Content-Type ct: from the cache, or from the file
// (cached when small). It reports false when the sibling is gone, so that the plain file answers.
func (h *fileHandler) serveSibling(w http.ResponseWriter, r *http.Request, ct string, sib *siblingFile) bool {
	if e := h.cache.get(sib.cacheKey); e != nil && h.fresh(e) {
		h.serveEntry(w, r, e)
		return true
	}
	opened := h.now()
	f, err := h.fsys.Open(sib.name)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	if fi.Size() <= h.maxEntry {
		buf := make([]byte, fi.Size()+1)
		n, err := io.ReadFull(f, buf)
		if (err != nil && err != io.EOF && err != io.ErrUnexpectedEOF) || int64(n) != fi.Size() {
			return false // changing as we read: the plain file answers
		}
		e := newCachedFile(sib.cacheKey, sib.name, buf[:n:n], fi, opened)
		e.contentType = []string{ct}
		e.etag = []string{codingETag(e.etag[0], sib.coding)}
		e.contentEncoding = []string{sib.coding}
		h.cache.put(e)
		h.serveEntry(w, r, e)
		return true
	}
	content, ok := f.(io.ReadSeeker)
	if !ok {
		return false
	}
	hdr := w.Header()
	hdr["Content-Type"] = []string{ct}
	hdr["Content-Encoding"] = []string{sib.coding}
	if !isZeroTime(fi.ModTime()) {
		hdr["Etag"] = []string{codingETag(modTimeETag(fi), sib.coding)}
	}
	http.ServeContent(noRangesWriter{w}, r, sib.name, fi.ModTime(), content)
	return true
}

// codingETag marks a sibling's ETag with its coding: "abc" becomes "abc.br".
func codingETag(etag, coding string) string {
	return strings.TrimSuffix(etag, `"`) + "." + coding + `"`
}

// noRangesWriter drops the Accept-Ranges that http.ServeContent sets: a precompressed answer
// takes no ranges (a Range request is answered from the plain file).
type noRangesWriter struct{ http.ResponseWriter }

func (w noRangesWriter) WriteHeader(code int) {
	delete(w.Header(), "Accept-Ranges")
	w.ResponseWriter.WriteHeader(code)
}

// hdrVaryAE is the Vary of every answer of a file with siblings; never modified in place.
var hdrVaryAE = []string{"Accept-Encoding"}

// hideSiblings leaves out of a listing the precompressed siblings of the files listed beside them.
func (h *fileHandler) hideSiblings(entries []listingEntry) []listingEntry {
	if len(h.precompressed) == 0 {
		return entries
	}
	plain := make(map[string]bool, len(entries))
	for _, e := range entries {
		if !e.dir {
			plain[e.name] = true
		}
	}
	out := entries[:0]
	for _, e := range entries {
		if !e.dir && h.isSiblingName(e.name, plain) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// isSiblingName reports whether name is a served coding's sibling of a file in plain.
func (h *fileHandler) isSiblingName(name string, plain map[string]bool) bool {
	for _, coding := range h.precompressed {
		if base, ok := strings.CutSuffix(name, siblingExt[coding]); ok && base != "" && plain[base] {
			return true
		}
	}
	return false
}
