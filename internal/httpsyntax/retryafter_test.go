package httpsyntax

import (
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	longest := time.Duration(1<<63 - 1)
	for _, tt := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"3", 3 * time.Second, true},
		{"120", 2 * time.Minute, true},
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", longest, true},          // more seconds than a Duration holds
		{"9223372036854775808", longest, true}, // past math.MaxInt64
		{"99999999999999999999999", longest, true},
		{"Wed, 21 Oct 2015 07:28:30 GMT", 30 * time.Second, true}, // IMF-fixdate
		{"Wednesday, 21-Oct-15 07:29:00 GMT", time.Minute, true},  // obsolete RFC 850 form
		{"Wed Oct 21 07:28:05 2015", 5 * time.Second, true},       // obsolete asctime form
		{"Tue, 20 Oct 2015 07:28:00 GMT", 0, true},                // past: at once
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1.5", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1, 2", 0, false},
		{"12abc", 0, false},
		{"soon", 0, false},
		{"Wed, 21 Oct 2015 07:28:30", 0, false}, // no zone
	} {
		got, ok := RetryAfter(tt.v, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}
