package httpsyntax

import (
	"bufio"
	"errors"
)

// ErrHeadTooLarge is ReadHead's answer to a head longer than its limit.
var ErrHeadTooLarge = errors.New("message head too large")

// ReadHead reads a message head from br: the bytes through the empty line that ends it (see
// HeadLength), at most limit of them, and takes them off br. Usually the head is whole in br's
// buffer and is returned from there, valid until br is read again; a head that outgrows the buffer
// is gathered in a slice of its own. ReadHead waits for input only when the head is not whole in
// the buffer, and then wait, unless nil, is called first, once: a server arms its header timeout
// there.
//
// A head longer than limit gives ErrHeadTooLarge, with at least its first limit bytes, as soon as
// that is known: once more than limit bytes came without an end, or a buffer of limit bytes is full
// without one. Input that ends or fails first gives br's error as it is (io.EOF, even within a
// head) with what came of the head: none means that the input ended before the head began. Until
// the head outgrows the buffer, what came is left in br.
func ReadHead(br *bufio.Reader, limit int, wait func()) ([]byte, error) {
	buf, _ := br.Peek(br.Buffered()) // what is buffered, without reading
	n := HeadLength(buf)
	for from := 0; n < 0; {
		full := len(buf) == br.Size()
		if len(buf) > limit || full && len(buf) == limit {
			return buf, ErrHeadTooLarge
		}
		if full {
			return gatherHead(br, limit, wait) // the head goes on past the buffer
		}
		from = max(len(buf)-2, 0) // an end that began in the last two bytes is not whole yet
		if wait != nil {
			wait()
			wait = nil
		}
		// One more byte than is there: Peek reads once, taking whatever the source has.
		if buf, err := br.Peek(len(buf) + 1); err != nil {
			return buf, err
		}
		buf, _ = br.Peek(br.Buffered())
		if n = HeadLength(buf[from:]); n >= 0 {
			n += from
		}
	}
	if n > limit {
		return buf[:n], ErrHeadTooLarge
	}
	_, _ = br.Discard(n)
	return buf[:n], nil
}

// gatherHead is ReadHead for a head that fills br's buffer: its bytes are gathered in a slice of
// their own, as they come.
func gatherHead(br *bufio.Reader, limit int, wait func()) ([]byte, error) {
	var acc []byte
	for {
		buf, _ := br.Peek(br.Buffered())
		from, base := max(len(acc)-2, 0), len(acc)
		acc = append(acc, buf...)
		if n := HeadLength(acc[from:]); n >= 0 {
			end := from + n
			if end > limit {
				return acc, ErrHeadTooLarge
			}
			_, _ = br.Discard(end - base)
			return acc[:end], nil
		}
		if len(acc) > limit {
			return acc, ErrHeadTooLarge
		}
		_, _ = br.Discard(len(buf))
		if wait != nil {
			wait()
			wait = nil
		}
		if _, err := br.Peek(1); err != nil {
			return acc, err
		}
	}
}
