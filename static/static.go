// Package static serves a folder of files under a URL prefix.
//
// The handler returned by [New] answers GET and HEAD (anything else: 405 with "Allow: GET, HEAD")
// for regular files of an [fs.FS], which is either an embedded tree or (*os.Root).FS(). An
// [os.Root] refuses to follow ".." or symlinks out of its folder, and the handler itself refuses
// every request path that could name something outside the folder or something hidden:
//
//   - any path segment that is empty or starts with "." (so "..", ".", dotfiles and dot-folders),
//   - a backslash or a NUL byte anywhere in the decoded path,
//   - an encoded slash or backslash ("%2f", "%5c") in the raw path.
//
// All of these answer 404, as do missing files, non-regular files (devices, pipes, sockets) and
// symlinks the [os.Root] refuses to follow (pointing outside, absolute, looping). Permission
// problems answer 403. Other I/O errors answer 500 with a generic body and are logged.
//
// Symlinks that stay inside the folder are followed and served like the file they point to; only
// the requested path is checked for dot segments, so a symlink deliberately placed in the folder
// serves its target even if the target's name starts with ".". Hard links are not detectable and
// are served.
//
// A folder URL (one ending in "/") serves the folder's index.html when there is one, whatever
// [Options.ShowIndex] says; otherwise it answers an HTML listing when ShowIndex is set, and 404
// when it is not. A listing is one self-contained page (inline stylesheet, a
// Content-Security-Policy that allows nothing else) titled with the folder's path under
// [Options.Prefix]: a table of names (folders first, each group sorted by name), sizes and
// modification times in UTC, with a link to the parent folder below the mount's root.
//
// A folder URL without its trailing slash is redirected (301) to the slash form with a relative
// Location ("./name/", query kept), so the redirect keeps whatever mount prefix the caller
// stripped, but only when that folder would be served; otherwise it answers 404.
//
// Responses carry a strong ETag (from modification time and size, or from a SHA-256 of the
// content when the file system has no modification times, as embed.FS), Last-Modified when
// known, Content-Type from the extension or else sniffed, and "X-Content-Type-Options: nosniff";
// conditional and range requests are answered by [http.ServeContent].
//
// Small regular files (up to 64 KiB, at most 16 MiB in all) are kept in memory together with
// their precomputed headers and revalidated against the file system by a stat at most once per
// second each (timed by [Options.Now]); a change of size or modification time reloads the file.
// Requests for them without conditions or ranges are answered without allocating. Larger files
// stream from disk through [http.ServeContent]. A change that keeps both size and modification
// time is not noticed until the entry is evicted.
//
// With [Options.Precompressed], a file's precompressed siblings (x.css.zst, x.css.br, x.css.gz
// beside x.css) answer for it, as they are, to clients that accept their coding; see
// precompressed.go.
package static

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/frontgate/frontgate/internal/jsonerror"
)

// Options configures a Handler. The zero value serves files without directory listings, logs
// nothing and uses the wall clock.
type Options struct {
	// ShowIndex answers a folder URL that has no index.html with an HTML listing of the folder.
	// False (the zero value) answers such a URL 404 and never lists a folder.
	ShowIndex bool
	// Logger receives I/O errors, named "static" by New. Nil (the zero value) logs nothing.
	Logger *zap.Logger
	// Now is the clock that times cache revalidation. Nil (the zero value) means time.Now.
	Now func() time.Time
	// Prefix is the URL path the handler is mounted under, the one the caller strips ("/files" or
	// "/files/"): listings show folder paths after it, as the client sees them. Empty (the zero
	// value) shows the paths as the handler sees them, from "/".
	Prefix string
	// Precompressed lists the content codings ("zstd", "br", "gzip"; others are ignored) whose
	// precompressed siblings (x.css.zst, x.css.br, x.css.gz beside x.css) answer for a file, in
	// the server's order of preference; see precompressed.go. Empty (the zero value): every file
	// answers with its own bytes, and no sibling is looked for.
	Precompressed []string
}

const (
	// defaultMaxEntry is the largest file kept in memory.
	defaultMaxEntry = 64 << 10
	// defaultMaxTotal bounds the bytes kept in memory over all cached files.
	defaultMaxTotal = 16 << 20
	// revalidateEvery is how long a cached file is served without a stat.
	revalidateEvery = time.Second
	// maxHashedETags bounds the remembered content-hash ETags of large files without a
	// modification time (embedded files).
	maxHashedETags = 4096
)

// limits are the cache bounds; tests shrink them.
type limits struct {
	maxEntry int64
	maxTotal int64
}

// New returns an http.Handler serving fsys. The request's URL path is taken relative to the
// mount: the caller strips the mount prefix (http.StripPrefix style), so r.URL.Path "/a/b.css"
// means file "a/b.css" of fsys; r.URL.RawPath may be set too. See the package documentation for
// what is served and what is refused.
func New(fsys fs.FS, opts Options) http.Handler {
	return newFileHandler(fsys, opts, limits{maxEntry: defaultMaxEntry, maxTotal: defaultMaxTotal})
}

func newFileHandler(fsys fs.FS, opts Options, lim limits) *fileHandler {
	log := zap.NewNop()
	if opts.Logger != nil {
		log = opts.Logger.Named("static")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var precompressed []string
	for _, coding := range opts.Precompressed {
		if siblingExt[coding] != "" && !slices.Contains(precompressed, coding) {
			precompressed = append(precompressed, coding)
		}
	}
	prefix := strings.TrimSuffix(opts.Prefix, "/")
	if prefix != "" && prefix[0] != '/' {
		prefix = "/" + prefix
	}
	return &fileHandler{
		fsys:      fsys,
		showIndex: opts.ShowIndex,
		prefix:    prefix,
		log:       log,
		now:       now,
		cache:     newFileCache(lim.maxTotal),
		maxEntry:  lim.maxEntry,

		precompressed: precompressed,
	}
}

// fileHandler is the http.Handler returned by New.
type fileHandler struct {
	fsys      fs.FS
	showIndex bool
	prefix    string // Options.Prefix without its final slash, "" or starting with "/"
	log       *zap.Logger
	now       func() time.Time
	cache     *fileCache
	maxEntry  int64

	// hashedETags maps the name of a large file without modification time to its hashedETag;
	// hashedCount counts its entries so that it stays bounded.
	hashedETags sync.Map
	hashedCount atomic.Int64

	// precompressed are Options.Precompressed's known codings; siblings maps a file's name in
	// fsys to its *siblingSet, siblingCount counts its entries so that it stays bounded.
	precompressed []string
	siblings      sync.Map
	siblingCount  atomic.Int64
}

// hashedETag is a content-hash ETag remembered for a large file of a given size.
type hashedETag struct {
	size int64
	etag string
}

// Header values shared by every response; never modified in place.
var (
	hdrAllow       = []string{"GET, HEAD"}
	hdrNosniff     = []string{"nosniff"}
	hdrTextPlain   = []string{"text/plain; charset=utf-8"}
	hdrTextHTML    = []string{"text/html; charset=utf-8"}
	hdrAcceptBytes = []string{"bytes"}
)

func (h *fileHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr["X-Content-Type-Options"] = hdrNosniff
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr["Allow"] = hdrAllow
		writeStatus(w, r, http.StatusMethodNotAllowed)
		return
	}
	key, ok := requestKey(r)
	if !ok {
		writeStatus(w, r, http.StatusNotFound)
		return
	}
	// An empty path is the mount's root reached with or without its slash ("/static" after
	// http.StripPrefix("/static", …)); only the slow path tells the two apart.
	if r.URL.Path != "" {
		if e := h.cache.get(key); e != nil && h.fresh(e) {
			if len(h.precompressed) > 0 && h.servePrecompressed(w, r, e.statName) {
				return
			}
			h.serveEntry(w, r, e)
			return
		}
	}
	h.serveSlow(w, r, key)
}

// requestKey validates the request's path and returns it without its leading slash: "a/b.css"
// for a file, "a/" for a folder, "" for the mount's root folder. ok is false for anything that
// must not be served.
func requestKey(r *http.Request) (key string, ok bool) {
	if raw := r.URL.RawPath; raw != "" && hasEncodedSeparator(raw) {
		return "", false
	}
	key = r.URL.Path
	if key != "" && key[0] == '/' {
		key = key[1:]
	}
	if key == "" {
		return "", true
	}
	rest := strings.TrimSuffix(key, "/")
	if rest == "" {
		return "", false // "//"
	}
	for rest != "" {
		seg := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
			if rest == "" {
				return "", false // "a//"
			}
		} else {
			rest = ""
		}
		if seg == "" || seg[0] == '.' || strings.ContainsAny(seg, "\\\x00") {
			return "", false
		}
	}
	return key, true
}

// hasEncodedSeparator reports whether raw contains "%2f" or "%5c" in any case.
func hasEncodedSeparator(raw string) bool {
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] != '%' {
			continue
		}
		a, b := raw[i+1], raw[i+2]|0x20
		if (a == '2' && b == 'f') || (a == '5' && b == 'c') {
			return true
		}
	}
	return false
}

// fsName turns a request key into a name for fsys: "a/" becomes "a", "" becomes ".".
func fsName(key string) string {
	name := strings.TrimSuffix(key, "/")
	if name == "" {
		return "."
	}
	return name
}

// isFolderURL reports whether the request names a folder by its slash form. The mount's root
// arrives as an empty path after http.StripPrefix("/mount", ...): it is a folder URL when the
// original request path ends in "/" (or is unknown).
func isFolderURL(r *http.Request, key string) bool {
	if key != "" {
		return strings.HasSuffix(key, "/")
	}
	if r.URL.Path != "" {
		return true // "/"
	}
	orig := requestURIPath(r)
	return orig == "" || strings.HasSuffix(orig, "/")
}

// requestURIPath returns the escaped path of the request as the client sent it, before any
// prefix was stripped, or "" if unknown.
func requestURIPath(r *http.Request) string {
	if r.RequestURI == "" {
		return ""
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return ""
	}
	return u.EscapedPath()
}

// fresh reports whether e may be served: it was checked against the file system within
// revalidateEvery, or it is checked now and unchanged. A stale entry that another request is
// already revalidating is served as is.
func (h *fileHandler) fresh(e *cachedFile) bool {
	now := h.now().UnixNano()
	last := e.checked.Load()
	if now-last < int64(revalidateEvery) && now >= last {
		return true
	}
	if !e.checked.CompareAndSwap(last, now) {
		return true
	}
	fi, err := fs.Stat(h.fsys, e.statName)
	if err == nil && fi.Mode().IsRegular() && fi.Size() == e.size && fi.ModTime().Equal(e.modTime) {
		return true
	}
	h.cache.remove(e)
	return false
}

// serveEntry answers from a cached file. Requests without conditions or ranges are answered
// directly from the precomputed headers; the others go through http.ServeContent.
func (h *fileHandler) serveEntry(w http.ResponseWriter, r *http.Request, e *cachedFile) {
	hdr := w.Header()
	hdr["Content-Type"] = e.contentType
	if e.etag != nil {
		hdr["Etag"] = e.etag
	}
	if e.contentEncoding != nil {
		hdr["Content-Encoding"] = e.contentEncoding
	}
	if hasConditions(r.Header) {
		if e.contentEncoding != nil {
			w = noRangesWriter{w}
		}
		http.ServeContent(w, r, e.statName, e.modTime, bytes.NewReader(e.body))
		return
	}
	if e.contentEncoding == nil {
		hdr["Accept-Ranges"] = hdrAcceptBytes
	}
	hdr["Content-Length"] = e.contentLength
	if e.lastModified != nil {
		hdr["Last-Modified"] = e.lastModified
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(e.body)
	}
}

// hasConditions reports whether the request has headers that http.ServeContent must evaluate.
func hasConditions(h http.Header) bool {
	return h["Range"] != nil || h["If-None-Match"] != nil || h["If-Modified-Since"] != nil ||
		h["If-Match"] != nil || h["If-Unmodified-Since"] != nil || h["If-Range"] != nil
}

// serveSlow answers a request that the cache could not: it looks the name up, redirects or
// lists folders, loads small files into the cache and streams large ones.
func (h *fileHandler) serveSlow(w http.ResponseWriter, r *http.Request, key string) {
	name := fsName(key)
	fi, err := fs.Stat(h.fsys, name)
	if err != nil {
		h.fail(w, r, name, err)
		return
	}
	folderURL := isFolderURL(r, key)
	statName := name
	if fi.IsDir() {
		index := path.Join(name, "index.html")
		ifi, err := fs.Stat(h.fsys, index)
		hasIndex := err == nil && ifi.Mode().IsRegular()
		if err != nil && !isNotFound(err) {
			h.fail(w, r, index, err)
			return
		}
		switch {
		case !hasIndex && !h.showIndex:
			writeStatus(w, r, http.StatusNotFound)
		case !folderURL:
			redirectToFolder(w, r, name)
		case hasIndex:
			h.serveFile(w, r, key, index)
		default:
			h.serveListing(w, r, name)
		}
		return
	}
	if folderURL || !fi.Mode().IsRegular() {
		writeStatus(w, r, http.StatusNotFound)
		return
	}
	h.serveFile(w, r, key, statName)
}

// serveFile serves the regular file statName for the request key, caching it when small.
func (h *fileHandler) serveFile(w http.ResponseWriter, r *http.Request, key, statName string) {
	// The entry counts as checked when the file is opened, not when it has been read: a change
	// made while reading is then seen by the next revalidation.
	opened := h.now()
	f, err := h.fsys.Open(statName)
	if err != nil {
		h.fail(w, r, statName, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		h.fail(w, r, statName, err)
		return
	}
	if !fi.Mode().IsRegular() {
		writeStatus(w, r, http.StatusNotFound)
		return
	}
	if fi.Size() <= h.maxEntry {
		// One byte more than the size tells whether the file grew since f.Stat.
		buf := make([]byte, fi.Size()+1)
		n, err := io.ReadFull(f, buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			h.fail(w, r, statName, err)
			return
		}
		body := buf[:n:n]
		if int64(n) == fi.Size() {
			e := newCachedFile(key, statName, body, fi, opened)
			h.cache.put(e) // the plain file is cached even when a sibling answers: the next request finds it
			if len(h.precompressed) > 0 && h.servePrecompressed(w, r, statName) {
				return
			}
			h.serveEntry(w, r, e)
			return
		}
		// The file changed while being read: serve what was read, without validators, and
		// cache nothing.
		hdr := w.Header()
		hdr["Content-Type"] = []string{contentType(statName, body)}
		http.ServeContent(w, r, statName, time.Time{}, bytes.NewReader(body))
		return
	}
	content, ok := f.(io.ReadSeeker)
	if !ok {
		ra, ok := f.(io.ReaderAt)
		if !ok {
			h.fail(w, r, statName, errors.New("file supports neither seeking nor reading at offsets"))
			return
		}
		content = io.NewSectionReader(ra, 0, fi.Size())
	}
	if len(h.precompressed) > 0 && h.servePrecompressed(w, r, statName) {
		return
	}
	hdr := w.Header()
	if ct := mime.TypeByExtension(path.Ext(statName)); ct != "" {
		hdr["Content-Type"] = []string{ct}
	}
	etag, err := h.largeETag(statName, fi, content)
	if err != nil {
		h.fail(w, r, statName, err)
		return
	}
	if etag != "" {
		hdr["Etag"] = []string{etag}
	}
	http.ServeContent(w, r, statName, fi.ModTime(), content)
}

// largeETag returns the ETag of a file too large to cache: derived from size and modification
// time, or, for a file without modification time, from a hash of the content computed once and
// remembered (up to maxHashedETags files; beyond, such files get no ETag). content is left at
// offset 0.
func (h *fileHandler) largeETag(name string, fi fs.FileInfo, content io.ReadSeeker) (string, error) {
	if !isZeroTime(fi.ModTime()) {
		return modTimeETag(fi), nil
	}
	if v, ok := h.hashedETags.Load(name); ok {
		if he := v.(hashedETag); he.size == fi.Size() {
			return he.etag, nil
		}
	}
	if h.hashedCount.Load() >= maxHashedETags {
		return "", nil
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, content); err != nil {
		return "", err
	}
	if _, err := content.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	etag := hashETag(sum.Sum(nil))
	if _, loaded := h.hashedETags.Swap(name, hashedETag{size: fi.Size(), etag: etag}); !loaded {
		h.hashedCount.Add(1)
	}
	return etag, nil
}

// redirectToFolder answers 301 with a Location relative to the request URL, so that it keeps the
// mount prefix the handler does not see. http.Redirect would resolve it against r.URL.Path.
func redirectToFolder(w http.ResponseWriter, r *http.Request, name string) {
	var last string
	if name != "." {
		last = path.Base(name)
	} else {
		// The mount's root, reached without its slash: name the mount as the client did.
		orig := requestURIPath(r)
		seg := orig[strings.LastIndexByte(orig, '/')+1:]
		unescaped, err := url.PathUnescape(seg)
		if err != nil || unescaped == "" {
			writeStatus(w, r, http.StatusNotFound)
			return
		}
		last = unescaped
	}
	loc := "./" + url.PathEscape(last) + "/"
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header()["Location"] = []string{loc}
	writeStatus(w, r, http.StatusMovedPermanently)
}

// fail answers err from opening or reading name: 404 for names that do not exist or must not be
// reached, 403 for permission problems, and 500 with a generic body, logged, for anything else.
func (h *fileHandler) fail(w http.ResponseWriter, r *http.Request, name string, err error) {
	switch {
	case isNotFound(err):
		writeStatus(w, r, http.StatusNotFound)
	case errors.Is(err, fs.ErrPermission):
		writeStatus(w, r, http.StatusForbidden)
	default:
		h.log.Error("serve file", zap.String("path", name), zap.String("method", r.Method), zap.Error(err))
		writeStatus(w, r, http.StatusInternalServerError)
	}
}

// isNotFound reports whether err means the name is not there to be served: missing, a path
// through a non-folder, a symlink loop, too long, invalid, or escaping the os.Root.
func isNotFound(err error) bool {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) ||
		errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP) ||
		errors.Is(err, syscall.ENAMETOOLONG) || errors.Is(err, syscall.EINVAL) {
		return true
	}
	// os.Root reports a path leaving its folder (through a symlink) with an unexported error.
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent"
}

// writeStatus answers code: an error in the one JSON error shape, or a redirect with a short
// plain-text body (none for HEAD).
func writeStatus(w http.ResponseWriter, r *http.Request, code int) {
	if code >= 400 {
		jsonerror.Write(w, r, code)
		return
	}
	body := movedBody
	hdr := w.Header()
	hdr["Content-Type"] = hdrTextPlain
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	delete(hdr, "Etag")
	delete(hdr, "Last-Modified")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

var movedBody = []byte("moved permanently\n")

// contentType returns the type of a file from its extension, else sniffed from its content.
func contentType(name string, content []byte) string {
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		return ct
	}
	return http.DetectContentType(content)
}

// unixEpoch is the time http.ServeContent, like the zero time, treats as "no modification time".
var unixEpoch = time.Unix(0, 0)

func isZeroTime(t time.Time) bool {
	return t.IsZero() || t.Equal(unixEpoch)
}

// modTimeETag is a strong ETag from modification time and size, as nginx makes them.
func modTimeETag(fi fs.FileInfo) string {
	return `"` + strconv.FormatInt(fi.ModTime().UnixNano(), 16) + "-" + strconv.FormatInt(fi.Size(), 16) + `"`
}

// hashETag is a strong ETag from a content hash.
func hashETag(sum []byte) string {
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}
