//go:build !race

package e2e

// RaceEnabled reports whether this build runs with the race detector; Build builds the binary the same.
const RaceEnabled = false
