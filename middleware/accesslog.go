package middleware

import (
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// NewJSONEncoder returns zap's JSON encoder for cfg, except that Timing's access-log lines are
// written by hand: the same bytes the JSON encoder would write, at a fraction of its cost (it escapes
// every key, formats the time through a layout and floats through the shortest-form algorithm). Other
// lines, and loggers given context fields with With, go through the JSON encoder. At construction the
// hand-written envelope (level, time, name, message) is checked against the JSON encoder's for every
// level; where cfg encodes one differently (capital levels, another time format), access lines of
// that level go through the JSON encoder too.
func NewJSONEncoder(cfg zapcore.EncoderConfig) zapcore.Encoder {
	le := cfg.LineEnding
	if le == "" {
		le = zapcore.DefaultLineEnding
	}
	e := &accessEncoder{Encoder: zapcore.NewJSONEncoder(cfg), cfg: cfg, lineEnding: le}
	sample := zapcore.Entry{Time: time.Date(2026, 1, 2, 3, 4, 5, 6_007_008, time.Local), LoggerName: "access", Message: "request"}
	for l := zapcore.DebugLevel; l <= zapcore.FatalLevel; l++ {
		sample.Level = l
		want, err := e.Encoder.EncodeEntry(sample, nil)
		if err != nil {
			continue
		}
		got := append(e.appendEnvelope(nil, sample), '}')
		e.fast[l-zapcore.DebugLevel] = string(append(got, le...)) == want.String()
		want.Free()
	}
	return e
}

type accessEncoder struct {
	zapcore.Encoder // the JSON encoder: every other line, and context fields
	cfg             zapcore.EncoderConfig
	lineEnding      string
	fast            [zapcore.FatalLevel - zapcore.DebugLevel + 1]bool // per level: the envelope matches
	derived         bool                                              // a clone made for With: context fields live in the JSON encoder only
}

var accessBuffers = buffer.NewPool()

func (e *accessEncoder) Clone() zapcore.Encoder {
	c := *e
	c.Encoder, c.derived = e.Encoder.Clone(), true
	return &c
}

func (e *accessEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	if e.derived || len(fields) != 1 || fields[0].Type != zapcore.InlineMarshalerType || ent.Caller.Defined || ent.Stack != "" ||
		ent.Level < zapcore.DebugLevel || ent.Level > zapcore.FatalLevel || !e.fast[ent.Level-zapcore.DebugLevel] {
		return e.Encoder.EncodeEntry(ent, fields)
	}
	a, ok := fields[0].Interface.(*accessEntry)
	if !ok {
		return e.Encoder.EncodeEntry(ent, fields)
	}
	buf := accessBuffers.Get()
	b := e.appendEnvelope(buf.Bytes(), ent)
	if len(b) > 1 {
		b = append(b, ',')
	}
	b = a.appendJSON(b)
	b = append(b, '}')
	b = append(b, e.lineEnding...)
	buf.Reset()
	_, _ = buf.Write(b) // b is usually buf's own array: this copies in place
	return buf, nil
}

// appendEnvelope opens the object and writes level, time, logger name and message as the JSON
// encoder does for an entry without a caller.
func (e *accessEncoder) appendEnvelope(b []byte, ent zapcore.Entry) []byte {
	b = append(b, '{')
	key := func(k string) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
	}
	if e.cfg.LevelKey != "" && e.cfg.EncodeLevel != nil {
		key(e.cfg.LevelKey)
		b = appendJSONString(b, ent.Level.String())
	}
	if e.cfg.TimeKey != "" && !ent.Time.IsZero() {
		key(e.cfg.TimeKey)
		b = append(b, '"')
		b = appendISO8601(b, ent.Time)
		b = append(b, '"')
	}
	if ent.LoggerName != "" && e.cfg.NameKey != "" {
		key(e.cfg.NameKey)
		b = appendJSONString(b, ent.LoggerName)
	}
	if e.cfg.MessageKey != "" {
		key(e.cfg.MessageKey)
		b = appendJSONString(b, ent.Message)
	}
	return b
}

// appendJSON writes the entry's fields as MarshalLogObject does, keys known not to need escaping.
func (a *accessEntry) appendJSON(b []byte) []byte {
	e := a.e
	b = append(b, `"method":`...)
	b = appendJSONString(b, a.r.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, a.r.URL.Path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"recv_ms":`...)
	b = appendMillis(b, a.recv)
	b = append(b, `,"handler_ms":`...)
	b = appendMillis(b, a.total-a.recv)
	b = append(b, `,"total_ms":`...)
	b = appendMillis(b, a.total)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, e.totalIn(), 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, e.totalOut(), 10)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.routeName)
	if e.hostName != "" {
		b = append(b, `,"host":`...)
		b = appendJSONString(b, e.hostName)
	}
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, a.id)
	b = append(b, `,"remote":`...)
	b = appendJSONString(b, a.r.RemoteAddr)
	if e.hasUp {
		b = append(b, `,"upstream":`...)
		b = appendJSONString(b, e.upstream)
		b = append(b, `,"upstream_ms":`...)
		b = appendMillis(b, e.upstreamD)
	}
	if e.tunnel != nil {
		b = append(b, `,"upgraded":true`...)
	}
	if e.aborted {
		b = append(b, `,"aborted":true`...)
	}
	return b
}

// appendMillis writes d in milliseconds as the JSON encoder writes ms(d): the shortest decimal that
// reads back as float64(d)/1e6. That is the exact value with at most six decimals: a decimal of up to
// 15 significant digits survives the round trip through a float64, and division rounds correctly.
// Beyond 10^9 ms (11 days) it leaves the work to strconv.
func appendMillis(b []byte, d time.Duration) []byte {
	if d < 0 || d >= 1e15 {
		return strconv.AppendFloat(b, ms(d), 'f', -1, 64)
	}
	b = strconv.AppendInt(b, int64(d/time.Millisecond), 10)
	frac := int64(d % time.Millisecond)
	if frac == 0 {
		return b
	}
	var digits [7]byte
	digits[0] = '.'
	for i := 6; i > 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 7
	for digits[n-1] == '0' {
		n--
	}
	return append(b, digits[:n]...)
}

const hexDigits = "0123456789abcdef"

// jsonPlain marks the bytes a JSON string holds as they are: printable ASCII but " and \.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString quotes s as zap's JSON encoder does: \ and " escaped, \n \r \t by name, other
// control bytes as \u00XX, invalid UTF-8 as \ufffd, everything else as is.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	// Usually every byte stands for itself: find the first that does not with one table lookup a
	// byte, and copy what comes before it whole.
	i := 0
	for i < len(s) && jsonPlain[s[i]] {
		i++
	}
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	last := 0
	for i < len(s) {
		c := s[i]
		if c >= utf8.RuneSelf {
			if r, size := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			b = append(b, s[last:i]...)
			b = append(b, `\ufffd`...)
			i++
			last = i
			continue
		}
		if c >= 0x20 && c != '\\' && c != '"' {
			i++
			continue
		}
		b = append(b, s[last:i]...)
		switch c {
		case '\\', '"':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		last = i
	}
	b = append(b, s[last:]...)
	return append(b, '"')
}

// isoSecond caches a second's "2006-01-02T15:04:05" and its zone, so that a timestamp costs three
// digits of milliseconds instead of a pass through time's layout interpreter.
type isoSecond struct {
	unix   int64
	loc    *time.Location
	prefix string // up to the seconds
	zone   string // "Z" or "-0700"
}

var isoCache atomic.Pointer[isoSecond]

// appendISO8601 writes t as zapcore.ISO8601TimeEncoder does: 2006-01-02T15:04:05.000Z0700.
func appendISO8601(b []byte, t time.Time) []byte {
	sec := t.Unix()
	c := isoCache.Load()
	if c == nil || c.unix != sec || c.loc != t.Location() {
		c = &isoSecond{unix: sec, loc: t.Location(), prefix: t.Format("2006-01-02T15:04:05"), zone: t.Format("Z0700")}
		isoCache.Store(c)
	}
	b = append(b, c.prefix...)
	ms := t.Nanosecond() / 1e6
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, c.zone...)
}
