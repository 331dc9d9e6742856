package httpsyntax

import "testing"

func TestPreferredCoding(t *testing.T) {
	all := []string{"zstd", "br", "gzip"}
	tests := []struct {
		name    string
		accept  []string
		offered []string
		want    string
	}{
		{"no field", nil, all, ""},
		{"empty field", []string{""}, all, ""},
		{"nothing offered", []string{"gzip"}, nil, ""},
		{"one", []string{"gzip"}, all, "gzip"},
		{"server order breaks ties", []string{"gzip, deflate, br, zstd"}, all, "zstd"},
		{"server order, other offer", []string{"gzip, br"}, []string{"gzip", "br"}, "gzip"},
		{"weights win over order", []string{"gzip;q=0, zstd;q=0.5, br;q=0.8"}, all, "br"},
		{"q=0 refuses", []string{"zstd;q=0, gzip"}, all, "gzip"},
		{"all refused", []string{"zstd;q=0, br;q=0, gzip;q=0"}, all, ""},
		{"star", []string{"*"}, all, "zstd"},
		{"star with a refusal", []string{"*, zstd;q=0"}, all, "br"},
		{"star below a named one", []string{"*;q=0.1, gzip;q=0.2"}, all, "gzip"},
		{"star refused", []string{"*;q=0"}, all, ""},
		{"identity alone", []string{"identity"}, all, ""},
		{"identity refused, nothing offered matches", []string{"identity;q=0, deflate"}, all, ""},
		{"identity refused, gzip taken", []string{"identity;q=0, gzip"}, all, "gzip"},
		{"identity preferred", []string{"gzip;q=0.5, identity"}, all, ""},
		{"identity tied", []string{"gzip, identity"}, all, "gzip"},
		{"case and spaces", []string{" GZip ; Q=1.0 ,  BR;q=0.9"}, all, "gzip"},
		{"x-gzip", []string{"x-gzip"}, all, "gzip"},
		{"several fields", []string{"deflate", "br;q=0.3", "gzip;q=0.2"}, all, "br"},
		{"three decimals", []string{"gzip;q=0.001, br;q=0.002"}, all, "br"},
		{"bad weights ignored", []string{"zstd;q=2, br;q=0.1234, gzip;q=x, deflate"}, all, ""},
		{"q=1.000 is fine, 1.001 is not", []string{"zstd;q=1.001, gzip;q=1.000"}, all, "gzip"},
		{"other parameters", []string{"gzip;level=9;q=0.5, br;q=0.4"}, all, "gzip"},
		{"first mention counts", []string{"gzip;q=0, gzip"}, all, ""},
		{"empty elements", []string{",, ,gzip,"}, all, "gzip"},
		{"many offered", []string{"e;q=0.2, f;q=0.9"}, []string{"a", "b", "c", "d", "e", "f"}, "f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PreferredCoding(tt.accept, tt.offered); got != tt.want {
				t.Errorf("PreferredCoding(%q, %q) = %q, want %q", tt.accept, tt.offered, got, tt.want)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { PreferredCoding([]string{"gzip, deflate, br;q=0.9, zstd"}, all) }); n != 0 {
		t.Errorf("PreferredCoding allocates %v times", n)
	}
}

func TestMediaType(t *testing.T) {
	for in, want := range map[string]string{
		"text/html; charset=utf-8": "text/html",
		" application/JSON ":       "application/JSON",
		"image/png":                "image/png",
		"":                         "",
		";x":                       "",
	} {
		if got := MediaType(in); got != want {
			t.Errorf("MediaType(%q) = %q, want %q", in, got, want)
		}
	}
}
