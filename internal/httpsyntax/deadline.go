package httpsyntax

import "time"

// ALongTimeAgo is a deadline in the past: set on a connection, it makes the reads and writes blocked
// on it return at once (with os.ErrDeadlineExceeded), which is how a server or client cuts short a
// call that waits on another goroutine.
var ALongTimeAgo = time.Unix(1, 0)
