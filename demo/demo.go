// Package demo holds the seed tutorial's demo routes (GET / and POST /demo1/{name}) and Echo, the
// built-in demo upstream that answers with what it received. All are plain http.Handlers.
package demo

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"

	"github.com/frontgate/frontgate/internal/jsonerror"
)

// MaxFormBytes bounds a demo form body; larger bodies get 413.
const MaxFormBytes = 32 << 20

// maxMemory is how much of a multipart form is kept in memory before parts spill to temporary files.
const maxMemory = 1 << 20

// Hello answers "Hello, world" (GET / in the seed).
func Hello() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "Hello, world")
	})
}

// Form answers {"name":…,"key":…} from a posted form, multipart or urlencoded (POST /demo1/{name}).
// name extracts the {name} path variable; the handler knows nothing of the router. A form without key
// gets 400, a body over MaxFormBytes 413, an unparsable body 400, each with a JSON error.
func Form(name func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, msg := parseForm(w, r); status != 0 {
			jsonerror.WriteMessage(w, r, status, msg)
			return
		}
		key, ok := r.Form["key"]
		if !ok || len(key) == 0 {
			jsonerror.WriteMessage(w, r, http.StatusBadRequest, `form field "key" is missing`)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"name": name(r), "key": key[0]})
	})
}

// parseForm reads a multipart or urlencoded body into r.Form, returning a status and a message to show
// the client when the body is unacceptable (0 when all is well).
func parseForm(w http.ResponseWriter, r *http.Request) (int, string) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	switch ct {
	case "multipart/form-data":
		err = r.ParseMultipartForm(maxMemory)
	case "application/x-www-form-urlencoded", "":
		err = r.ParseForm()
	default:
		return http.StatusUnsupportedMediaType, "send multipart/form-data or application/x-www-form-urlencoded"
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, "the form is larger than the limit"
		}
		return http.StatusBadRequest, "the form could not be read"
	}
	return 0, ""
}

// writeJSON sends v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Received is what Echo answers: the request as it arrived.
type Received struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query,omitempty"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
	Form    map[string][]string `json:"form,omitempty"`
	// Files maps a file field to the sizes of the files posted in it.
	Files map[string][]FileInfo `json:"files,omitempty"`
	// BodyBytes counts the body bytes read (for bodies that are not forms).
	BodyBytes int64 `json:"body_bytes"`
}

// FileInfo describes one uploaded file.
type FileInfo struct {
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
}

// Echo is the demo upstream: it answers every request with a JSON Received. Multipart parts are
// streamed and counted, never held whole in memory.
func Echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := Received{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host, Headers: r.Header}
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		var err error
		switch ct {
		case "multipart/form-data":
			err = readMultipart(r, &rec)
		case "application/x-www-form-urlencoded":
			r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
			if err = r.ParseForm(); err == nil {
				rec.Form = r.PostForm
			}
		default:
			rec.BodyBytes, err = io.Copy(io.Discard, r.Body)
		}
		if err != nil {
			jsonerror.WriteMessage(w, r, http.StatusBadRequest, "the body could not be read")
			return
		}
		writeJSON(w, http.StatusOK, rec)
	})
}

func readMultipart(r *http.Request, rec *Received) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return err
	}
	rec.Form, rec.Files = map[string][]string{}, map[string][]FileInfo{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := readPart(part, rec); err != nil {
			return err
		}
	}
	for _, files := range rec.Files {
		sort.SliceStable(files, func(i, j int) bool { return files[i].Filename < files[j].Filename })
	}
	return nil
}

func readPart(part *multipart.Part, rec *Received) error {
	defer part.Close()
	name := part.FormName()
	if part.FileName() != "" {
		n, err := io.Copy(io.Discard, part)
		if err != nil {
			return err
		}
		rec.Files[name] = append(rec.Files[name], FileInfo{Filename: part.FileName(), Size: n})
		return nil
	}
	var b strings.Builder
	if _, err := io.Copy(&b, io.LimitReader(part, 1<<20)); err != nil {
		return err
	}
	rec.Form[name] = append(rec.Form[name], b.String())
	return nil
}
