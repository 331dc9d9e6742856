package leanhttp

import (
	"bytes"
	"testing"
)

// BenchmarkReadRequest parses the request wrk sends in the benchmarks, and one a browser would.
func BenchmarkReadRequest(b *testing.B) {
	for name, head := range map[string]string{
		"wrk": "GET /demo2 HTTP/1.1\r\nHost: 127.0.0.1:19004\r\n\r\n",
		"browser": "GET /css/base.css?v=3 HTTP/1.1\r\nHost: gateway.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
			"Accept: text/css,*/*;q=0.1\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
			"Referer: https://gateway.example/\r\nConnection: keep-alive\r\nCookie: session=abc123; theme=dark\r\n" +
			"Sec-Fetch-Dest: style\r\nSec-Fetch-Mode: no-cors\r\nIf-None-Match: \"v3\"\r\n\r\n",
	} {
		b.Run(name, func(b *testing.B) {
			s := &Server{MaxHeaderBytes: 64 << 10}
			s.defaults()
			src := &bytesConn{r: bytes.NewReader(nil), piece: 1 << 20}
			c := newConn(s, src)
			b.ReportAllocs()
			for b.Loop() {
				src.r.Reset([]byte(head))
				c.br.Reset(src)
				if _, _, err := c.readRequest(); err != nil {
					b.Fatal(err)
				}
				c.cancel()
			}
		})
	}
}
