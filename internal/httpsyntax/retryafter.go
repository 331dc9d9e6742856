package httpsyntax

import (
	"net/http"
	"time"
)

// RetryAfter reads a Retry-After value (RFC 9110 10.2.3): delay-seconds (1*DIGIT) or an HTTP-date,
// the latter made a delay from now (zero for a date already past). Seconds too many for a
// time.Duration give the longest one. ok is false for anything else (a sign, a fraction, spaces, a
// list, an unreadable date): the value says nothing then.
func RetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	if len(v) > 0 && v[0] >= '0' && v[0] <= '9' {
		secs, ok := ContentLength(v) // the same grammar: 1*DIGIT, at most math.MaxInt64
		if !ok && !digits(v) {
			return 0, false
		}
		if !ok || secs > int64(1<<63-1)/int64(time.Second) { // digits past math.MaxInt64, or past a Duration
			return time.Duration(1<<63 - 1), true
		}
		return time.Duration(secs) * time.Second, true
	}
	date, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(date.Sub(now), 0), true
}

// digits reports whether s is all ASCII digits.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
