package main

import (
	"context"
	"io"
	"strings"

	"github.com/frontgate/frontgate/loadgen"
)

func runSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	path, rest := takeConfigFlag(args)
	return loadgen.Main(ctx, rest, stdout, stderr, func(ctx context.Context) (string, func(), error) {
		return startSelf(path)
	})
}

// takeConfigFlag removes -config FILE (selftest's self-mode config) from args before the load
// generator parses the rest.
func takeConfigFlag(args []string) (path string, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-config" || a == "--config":
			if i+1 < len(args) {
				path = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "-config=") || strings.HasPrefix(a, "--config="):
			path = a[strings.Index(a, "=")+1:]
		case a == "--":
			return path, append(rest, args[i:]...)
		default:
			rest = append(rest, a)
		}
	}
	return path, rest
}
