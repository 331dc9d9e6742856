package httpsyntax

// PreferredCoding picks the content coding of a response from the request's Accept-Encoding field
// values (RFC 9110 12.5.3) among offered, the codings the server can apply in its own order of
// preference. It returns the offered coding of the highest weight (q) above 0, a tie going to the
// one earlier in offered, or "" for identity (no coding):
//
//   - a coding the client does not name takes the weight of "*" when it sent one, else 0;
//   - "x-gzip" counts as "gzip"; names compare case-insensitively;
//   - no Accept-Encoding field (accept empty) asks for no coding: "";
//   - identity named with a weight above the best offered coding's wins: "";
//   - an element whose weight does not parse (q=2, q=0.1234, q=x) is ignored; a coding named twice
//     keeps its first weight.
//
// When nothing offered is acceptable it returns "" even if the client refused identity too
// ("identity;q=0"): the caller sends the response as it is rather than 406. It does not allocate.
func PreferredCoding(accept []string, offered []string) string {
	if len(accept) == 0 || len(offered) == 0 {
		return ""
	}
	var small [4]int
	weights := small[:0]
	if len(offered) > len(small) {
		weights = make([]int, 0, len(offered))
	}
	for range offered {
		weights = append(weights, -1) // not named
	}
	star, identity := -1, -1
	for _, v := range accept {
		for start := 0; start < len(v); {
			end := start
			for end < len(v) && v[end] != ',' {
				end++
			}
			elem := v[start:end]
			start = end + 1
			coding, q, ok := codingWeight(elem)
			if !ok {
				continue
			}
			switch {
			case coding == "*":
				if star < 0 {
					star = q
				}
			case EqualFold(coding, "identity"):
				if identity < 0 {
					identity = q
				}
			default:
				if EqualFold(coding, "x-gzip") {
					coding = "gzip"
				}
				for i, o := range offered {
					if weights[i] < 0 && EqualFold(coding, o) {
						weights[i] = q
					}
				}
			}
		}
	}
	best, bestQ := -1, 0
	for i, q := range weights {
		if q < 0 {
			q = max(star, 0)
		}
		if q > bestQ {
			best, bestQ = i, q
		}
	}
	if best < 0 || identity > bestQ {
		return ""
	}
	return offered[best]
}

// codingWeight splits one Accept-Encoding element ("gzip;q=0.8") into its coding and weight in
// thousandths (1000 when no q is given); ok is false for an empty element or a weight that does not
// parse.
func codingWeight(elem string) (coding string, q int, ok bool) {
	coding, params := elem, ""
	for i := 0; i < len(elem); i++ {
		if elem[i] == ';' {
			coding, params = elem[:i], elem[i+1:]
			break
		}
	}
	coding = TrimOWS(coding)
	if coding == "" {
		return "", 0, false
	}
	q = 1000
	for params != "" {
		p := params
		params = ""
		for i := 0; i < len(p); i++ {
			if p[i] == ';' {
				p, params = p[:i], p[i+1:]
				break
			}
		}
		p = TrimOWS(p)
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue // another parameter: no meaning here
		}
		if q, ok = qvalue(p[2:]); !ok {
			return "", 0, false
		}
	}
	return coding, q, true
}

// qvalue parses a weight (RFC 9110 12.4.2: "0" to "1" with up to three decimals) into thousandths.
func qvalue(s string) (int, bool) {
	if len(s) == 0 || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	n := int(s[0]-'0') * 1000
	if len(s) > 1 {
		if s[1] != '.' {
			return 0, false
		}
		scale := 100
		for i := 2; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n += int(c-'0') * scale
			scale /= 10
		}
	}
	if n > 1000 {
		return 0, false
	}
	return n, true
}

// MediaType is the type/subtype of a Content-Type field value ("text/html; charset=utf-8" gives
// "text/html"): a slice of v without parameters or surrounding whitespace, in v's case.
func MediaType(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == ';' {
			v = v[:i]
			break
		}
	}
	return TrimOWS(v)
}
