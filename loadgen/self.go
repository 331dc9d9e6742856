package loadgen

import (
	"strings"
)

// SelfImageSize is the size of the generated image uploaded to /demo2 in self mode.
const SelfImageSize = 32 << 10

// SelfTargets returns the mix of demo routes that self mode drives against the gateway at baseURL, in
// round-robin order: GET / ("Hello, world"), POST /demo1/x with the urlencoded form key=v, POST /demo2
// with a multipart form (image_id=2 and a generated JPEG-like file "image"), and GET /css/base.css.
// extra headers are added to every request.
func SelfTargets(baseURL string, extra []Header) ([]Target, error) {
	base := strings.TrimRight(baseURL, "/")
	body, ctype, err := EncodeMultipart([]FormField{
		{Key: "image_id", Value: []byte("2")},
		{Key: "image", Value: DemoJPEG(SelfImageSize), File: true, Filename: "image.jpg", ContentType: "image/jpeg"},
	})
	if err != nil {
		return nil, err
	}
	with := func(h ...Header) []Header { return append(append([]Header(nil), extra...), h...) }
	return []Target{
		{Name: "/", URL: base + "/", Method: "GET", Header: with()},
		{Name: "/demo1/x", URL: base + "/demo1/x", Method: "POST", Body: []byte("key=v"),
			Header: with(Header{"Content-Type", "application/x-www-form-urlencoded"})},
		{Name: "/demo2", URL: base + "/demo2", Method: "POST", Body: body,
			Header: with(Header{"Content-Type", ctype})},
		{Name: "/css/base.css", URL: base + "/css/base.css", Method: "GET", Header: with()},
	}, nil
}

// DemoJPEG generates a deterministic payload of size bytes shaped like a JPEG file: the SOI and JFIF APP0
// markers, pseudo-random scan data without marker bytes, and the EOI marker. It is not a decodable image.
func DemoJPEG(size int) []byte {
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
