package loadgen

import (
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether f is a terminal (not merely a character device like /dev/null).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
