package demo

import (
	"strings"

	"github.com/frontgate/frontgate/loadgen"
)

// ImageSize is the size of the generated image that Targets uploads to /demo2.
const ImageSize = 32 << 10

// Targets returns the mix of demo routes that `frontgate selftest` drives against the gateway at
// baseURL (with or without a trailing slash), in round-robin order: GET / ("Hello, world"), POST
// /demo1/x with the urlencoded form key=v, POST /demo2 with a multipart form (image_id=2 and a JPEG of
// ImageSize bytes as the file "image"), and GET /css/base.css. Each target is named by its path. extra
// headers, which may be nil, are added to every request; the slice is not modified.
func Targets(baseURL string, extra []loadgen.Header) ([]loadgen.Target, error) {
	base := strings.TrimRight(baseURL, "/")
	body, ctype, err := loadgen.EncodeMultipart([]loadgen.FormField{
		{Key: "image_id", Value: []byte("2")},
		{Key: "image", Value: JPEG(ImageSize), File: true, Filename: "image.jpg", ContentType: "image/jpeg"},
	})
	if err != nil {
		return nil, err
	}
	with := func(h ...loadgen.Header) []loadgen.Header {
		return append(append([]loadgen.Header(nil), extra...), h...)
	}
	return []loadgen.Target{
		{Name: "/", URL: base + "/", Method: "GET", Header: with()},
		{Name: "/demo1/x", URL: base + "/demo1/x", Method: "POST", Body: []byte("key=v"),
			Header: with(loadgen.Header{Key: "Content-Type", Value: "application/x-www-form-urlencoded"})},
		{Name: "/demo2", URL: base + "/demo2", Method: "POST", Body: body,
			Header: with(loadgen.Header{Key: "Content-Type", Value: ctype})},
		{Name: "/css/base.css", URL: base + "/css/base.css", Method: "GET", Header: with()},
	}, nil
}

// JPEG generates a deterministic payload of size bytes shaped like a JPEG file: the SOI and JFIF APP0
// markers, pseudo-random scan data without marker bytes, and the EOI marker. It is not a decodable
// image. A size too small for the markers (32 bytes) is raised to that minimum.
func JPEG(size int) []byte {
	head := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
		0x00, 0x01, 0x00, 0x00, 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00}
	size = max(size, len(head)+2)
	b := make([]byte, size)
	copy(b, head)
	x := uint32(2463534242)
	for i := len(head); i < size-2; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
		if b[i] == 0xFF {
			b[i] = 0xFE
		}
	}
	b[size-2], b[size-1] = 0xFF, 0xD9
	return b
}
