package gateway

import (
	"errors"
	"math"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/frontgate/frontgate/config"
)

// The access log's buffer: lines collect in memory and are written out when AccessBufferSize fills
// and every AccessFlushInterval, so that a line reaches stdout or the file at most that long after
// its request ended, and the log costs no write per request.
const (
	AccessBufferSize    = 256 << 10
	AccessFlushInterval = 100 * time.Millisecond
)

// accessWriter is the access log's output for a server's life. Every generation's access logger
// writes into buf, which flushes into Write: on to the access-log file, or stdout without one. A
// reload that names another file (or rotation) and a reopen flush buf into the old file before
// they close it, so that no line is lost or written twice.
type accessWriter struct {
	buf    *zapcore.BufferedWriteSyncer
	stdout *os.File    // where lines go without a file; nil: nowhere
	log    *zap.Logger // the process log, for failures and reopens

	// mu guards the fields below. buf's flushes hold it (inside buf's own lock) while they write, and
	// use, reopen and close hold it while they change the file; setting is written only by use,
	// which the server's lock serializes.
	mu      sync.Mutex
	file    *lumberjack.Logger // the open access-log file; nil: stdout
	setting fileSetting        // what file was opened for
	failing bool               // the last write failed: reported once, and again once one succeeds
	closed  bool
}

// fileSetting is what an access-log file is opened for: its path ("" for stdout) and rotation (zero:
// none).
type fileSetting struct {
	path   string
	rotate config.Rotate
}

func newAccessWriter(stdout *os.File, log *zap.Logger) *accessWriter {
	w := &accessWriter{stdout: stdout, log: log}
	w.buf = &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(w), Size: AccessBufferSize, FlushInterval: AccessFlushInterval}
	return w
}

// logger is an access logger for c writing into w: c's level, and c's format (unset: console when
// the lines go to a terminal, json otherwise).
func (w *accessWriter) logger(c config.Log) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	terminal := c.AccessFile == "" && w.stdout != nil && isTerminal(w.stdout)
	return zap.New(zapcore.NewCore(newEncoder(c.Format, terminal), w.buf, level)).Named("access"), nil
}

// Write writes one flush of buf: whole lines. A failed write is reported on the process log rather
// than returned: buf would keep the error and write nothing ever after, where the file may take
// lines again once the disk has room.
func (w *accessWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	switch {
	case w.closed:
	case w.file != nil:
		_, err = w.file.Write(p)
	case w.stdout != nil:
		_, err = w.stdout.Write(p)
	}
	if err != nil && !w.failing {
		w.log.Error("access log lines lost: write failed", zap.String("file", w.setting.path), zap.Error(err))
	} else if err == nil && w.failing {
		w.log.Info("access log written again", zap.String("file", w.setting.path))
	}
	w.failing = err != nil
	return len(p), nil
}

// use points w at c's access-log file, or stdout when c names none, and opens the file. The lines
// logged before go where they went: buf is flushed first. The same file with the same rotation
// stays open. A file that does not open is tried again at every flush.
func (w *accessWriter) use(c config.Log) error {
	s := fileSetting{path: c.AccessFile}
	if c.Rotate != nil && s.path != "" {
		s.rotate = *c.Rotate
	}
	if s == w.setting { // read without mu: only use writes it
		return nil
	}
	_ = w.buf.Sync() // Write returns no error, and w has no Sync
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	if w.file != nil {
		err = w.file.Close()
	}
	w.file, w.setting = newFile(s), s
	if w.file != nil {
		_, werr := w.file.Write(nil) // opens (or creates) the file now, not at the first flush
		err = errors.Join(err, werr)
	}
	return err
}

// newFile is the rotating writer for s; nil when s names no file.
func newFile(s fileSetting) *lumberjack.Logger {
	if s.path == "" {
		return nil
	}
	f := &lumberjack.Logger{Filename: s.path, MaxSize: math.MaxInt32} // MiB: without rotation, never
	if r := s.rotate; r.MaxSize > 0 {
		// config checks that both are whole and that max_size is at least 1MiB.
		f.MaxSize = int(r.MaxSize >> 20)
		f.MaxBackups = r.MaxBackups
		f.MaxAge = int(r.MaxAge / (24 * time.Hour))
		f.Compress = r.Compress
	}
	return f
}

// reopen flushes buf into the access-log file, closes it and opens its path again: after an
// external logrotate moved the file away, the lines logged from now on go to a new file at the path,
// those logged before to the moved one. It returns the path; "" when the lines go to stdout.
func (w *accessWriter) reopen() (string, error) {
	if w.setting.path == "" { // read without mu: only use writes it
		return "", nil
	}
	_ = w.buf.Sync()
	w.mu.Lock()
	defer w.mu.Unlock()
	// lumberjack's Close closes the file and nothing else; its next Write opens Filename again,
	// appending to a file that is there and creating one that is not.
	err := w.file.Close()
	if _, werr := w.file.Write(nil); werr != nil {
		err = errors.Join(err, werr)
	}
	return w.setting.path, err
}

// close flushes buf, stops its flushes and closes the file; lines logged after it are dropped.
func (w *accessWriter) close() error {
	err := w.buf.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.file != nil {
		err = errors.Join(err, w.file.Close())
	}
	return err
}
