package h1client

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkReadResponseHead parses the head nginx sends for the benchmark's upstream answer.
func BenchmarkReadResponseHead(b *testing.B) {
	const head = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 08:00:01 GMT\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Length: 8\r\nConnection: keep-alive\r\n\r\n"
	req := &http.Request{Method: http.MethodGet}
	var space headerSpace
	r := strings.NewReader(head)
	br := bufio.NewReaderSize(r, 16<<10)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(head)
		br.Reset(r)
		if _, err := readResponseHead(br, req, &space); err != nil {
			b.Fatal(err)
		}
	}
}
