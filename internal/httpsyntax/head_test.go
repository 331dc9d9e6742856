package httpsyntax

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// piecewise hands out its bytes at most n at a time, counting the reads.
type piecewise struct {
	r     *strings.Reader
	n     int
	reads int
}

func (p *piecewise) Read(b []byte) (int, error) {
	p.reads++
	if len(b) > p.n {
		b = b[:p.n]
	}
	return p.r.Read(b)
}

func TestReadHead(t *testing.T) {
	long := "GET / HTTP/1.1\r\nX: " + strings.Repeat("x", 100) + "\r\n\r\n"
	cut := "HTTP/1.1 200 OK\r\nContent-Len"
	tests := []struct {
		name   string
		in     string
		size   int // br's buffer
		limit  int
		piece  int
		head   string // what ReadHead returns: the head, or on an error what came of it
		err    error
		rest   int  // bytes left in br and its source after; -1: any
		waited bool // wait was called: the head was not whole after the first read
	}{
		{"whole in the buffer", "GET / HTTP/1.1\r\nHost: a\r\n\r\nnext", 64, 64, 1 << 10, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", nil, 4, false},
		{"bare LFs", "HTTP/1.1 200 OK\nA: 1\n\nbody", 64, 64, 1 << 10, "HTTP/1.1 200 OK\nA: 1\n\n", nil, 4, false},
		{"in pieces", "GET / HTTP/1.1\r\nHost: a\r\n\r\nnext", 64, 64, 1, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", nil, 4, true},
		{"longer than the buffer", long + "next", 16, 200, 7, long, nil, 4, true},
		{"at the limit", long, 16, len(long), 5, long, nil, 0, true},
		{"past the limit, whole in the buffer", long, 256, len(long) - 1, 1 << 10, long, ErrHeadTooLarge, len(long), false},
		{"past the limit, gathered", long, 16, len(long) - 1, 1 << 10, long, ErrHeadTooLarge, -1, true},
		{"buffer full at the limit", long, 16, 16, 1 << 10, long[:16], ErrHeadTooLarge, len(long), false},
		{"no end within the limit", long, 256, 20, 10, long[:30], ErrHeadTooLarge, len(long), true},
		{"cut short", cut, 64, 64, 4, cut, io.EOF, len(cut), true},
		{"cut short, gathered", long[:60], 16, 200, 16, long[:60], io.EOF, 0, true},
		{"nothing", "", 64, 64, 4, "", io.EOF, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &piecewise{r: strings.NewReader(tt.in), n: tt.piece}
			br := bufio.NewReaderSize(src, tt.size)
			if br.Size() != tt.size {
				t.Fatalf("the test needs a buffer of %d, got %d", tt.size, br.Size())
			}
			_, _ = br.Peek(1) // the first read, as a server's wait for the next request makes it
			waits := 0
			got, err := ReadHead(br, tt.limit, func() { waits++ })
			if string(got) != tt.head || !errors.Is(err, tt.err) || err != nil && tt.err == nil {
				t.Errorf("%q %v, want %q %v", got, err, tt.head, tt.err)
			}
			if rest := br.Buffered() + src.r.Len(); tt.rest >= 0 && rest != tt.rest {
				t.Errorf("%d bytes left, want %d", rest, tt.rest)
			}
			if waits > 1 || (waits == 1) != tt.waited {
				t.Errorf("wait called %d times, want it called: %v", waits, tt.waited)
			}
		})
	}
}

// A head whole in the buffer costs no read but those that brought it, and no allocation.
func TestReadHeadFromTheBuffer(t *testing.T) {
	const in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	src := &piecewise{r: strings.NewReader(in + in), n: 1 << 10}
	br := bufio.NewReaderSize(src, 4<<10)
	if _, err := br.Peek(1); err != nil {
		t.Fatal(err)
	}
	reads := src.reads
	allocs := testing.AllocsPerRun(1, func() {
		if head, err := ReadHead(br, 1<<10, nil); string(head) != in || err != nil {
			t.Errorf("%q %v", head, err)
		}
	})
	if src.reads != reads || allocs != 0 {
		t.Errorf("%d more reads, %v allocations", src.reads-reads, allocs)
	}
}

// However the bytes come, and whether or not the head fits the buffer, the same head is read and
// the bytes after it stay.
func TestReadHeadInAnyPieces(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.1\r\nX: " + strings.Repeat("x", 40) + "\r\nY: 1\r\n\r\nnext",
		"HTTP/1.1 200 OK\nX: " + strings.Repeat("x", 40) + "\n\nnext\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: 1\r\n\n\r\n\r\nnext",
	} {
		want := in[:HeadLength([]byte(in))]
		for _, size := range []int{16, 32, 256} {
			for piece := 1; piece <= 40; piece++ {
				src := &piecewise{r: strings.NewReader(in), n: piece}
				br := bufio.NewReaderSize(src, size)
				head, err := ReadHead(br, 200, nil)
				if string(head) != want || err != nil {
					t.Fatalf("%q, buffer %d, pieces of %d: %q %v", in, size, piece, head, err)
				}
				if rest, _ := io.ReadAll(br); string(rest) != in[len(want):] {
					t.Fatalf("%q, buffer %d, pieces of %d: %q after", in, size, piece, rest)
				}
			}
		}
	}
}
