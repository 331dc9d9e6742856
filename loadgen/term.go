package loadgen

import (
	"io"
	"os"

	"golang.org/x/term"
)

// ProgressWriter returns w when it is a terminal, for Plan.Progress, and nil otherwise (a pipe, a file,
// /dev/null), where the carriage-return updates of the progress line would only clutter the output.
func ProgressWriter(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		return w
	}
	return nil
}

// isTerminal reports whether f is a terminal (not merely a character device like /dev/null).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
