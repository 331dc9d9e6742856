package static

import (
	"crypto/sha256"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// entryOverhead is what a cached file costs beyond its content, for the total bound.
const entryOverhead = 256

// cachedFile is a small file held in memory with its response headers. Everything but checked is
// immutable once the entry is stored; header slices are shared by all responses and never
// modified in place.
type cachedFile struct {
	key      string // the cache key: request path without its leading slash
	statName string // the file in fsys: key itself, or a folder's index.html
	body     []byte
	size     int64
	modTime  time.Time
	cost     int64

	contentType   []string
	etag          []string
	lastModified  []string // nil when the file has no modification time
	contentLength []string
	// contentEncoding is a precompressed sibling's coding (see precompressed.go); nil for every
	// other file.
	contentEncoding []string

	// checked is when (UnixNano of Options.Now) the entry was last found unchanged.
	checked atomic.Int64
}

func newCachedFile(key, statName string, body []byte, fi fs.FileInfo, now time.Time) *cachedFile {
	e := &cachedFile{
		key:           key,
		statName:      statName,
		body:          body,
		size:          fi.Size(),
		modTime:       fi.ModTime(),
		cost:          int64(cap(body)+len(key)+len(statName)) + entryOverhead,
		contentType:   []string{contentType(statName, body)},
		contentLength: []string{strconv.Itoa(len(body))},
	}
	if isZeroTime(e.modTime) {
		sum := sha256.Sum256(body)
		e.etag = []string{hashETag(sum[:])}
	} else {
		e.etag = []string{modTimeETag(fi)}
		e.lastModified = []string{e.modTime.UTC().Format(http.TimeFormat)}
	}
	e.checked.Store(now.UnixNano())
	return e
}

// fileCache holds small files by request key, bounded in total cost. Lookups are lock-free.
type fileCache struct {
	entries sync.Map // request key → *cachedFile
	max     int64

	// mu guards total and every change to entries (store, delete, eviction), so that total is
	// the sum of the costs of the stored entries.
	mu    sync.Mutex
	total int64
}

func newFileCache(max int64) *fileCache {
	return &fileCache{max: max}
}

// get returns the entry for key, or nil.
func (c *fileCache) get(key string) *cachedFile {
	v, ok := c.entries.Load(key)
	if !ok {
		return nil
	}
	return v.(*cachedFile)
}

// put stores e under e.key, replacing any entry there and evicting the least recently
// revalidated entries if the total would exceed the bound. An entry larger than the whole
// bound is not stored.
func (c *fileCache) put(e *cachedFile) {
	if e.cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.entries.LoadAndDelete(e.key); ok {
		c.total -= v.(*cachedFile).cost
	}
	if c.total+e.cost > c.max {
		c.evictLocked(e.cost)
	}
	c.entries.Store(e.key, e)
	c.total += e.cost
}

// remove deletes e if it is still the entry for its key.
func (c *fileCache) remove(e *cachedFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries.CompareAndDelete(e.key, e) {
		c.total -= e.cost
	}
}

// evictLocked deletes the entries revalidated longest ago until need fits in three quarters of
// the bound, so that eviction, which walks all entries, runs rarely. A hot entry is revalidated
// every revalidateEvery, so the oldest are the ones not requested lately. c.mu must be held.
func (c *fileCache) evictLocked(need int64) {
	var all []*cachedFile
	c.entries.Range(func(_, v any) bool {
		all = append(all, v.(*cachedFile))
		return true
	})
	slices.SortFunc(all, func(a, b *cachedFile) int {
		x, y := a.checked.Load(), b.checked.Load()
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	for _, e := range all {
		if c.total+need <= c.max*3/4 {
			break
		}
		c.entries.Delete(e.key)
		c.total -= e.cost
	}
}
