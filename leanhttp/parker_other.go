//go:build !linux

package leanhttp

// parker is Linux's; elsewhere napping connections keep a goroutine each.
type parker struct{}

func newParker() *parker          { return nil }
func (p *parker) park(*conn) bool { return false }
func (p *parker) stop()           {}
