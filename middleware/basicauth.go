package middleware

import (
	"crypto/subtle"
	"net/http"
	"strconv"

	"golang.org/x/crypto/bcrypt"

	"github.com/frontgate/frontgate/internal/jsonerror"
)

// BasicAuth admits requests with HTTP Basic credentials of one of users (name → bcrypt hash) and
// answers the rest 401 with WWW-Authenticate for realm. It takes as long for an unknown name as for
// a wrong password (a bcrypt comparison either way), and removes the Authorization field before next
// sees the request, so that the password goes no further. onFail, when set, is called on each
// refusal (metrics). Credentials are never logged.
func BasicAuth(next http.Handler, realm string, users map[string][]byte, onFail func(*http.Request)) http.Handler {
	challenge := `Basic realm=` + strconv.Quote(realm) + `, charset="UTF-8"`
	// A hash to compare against for unknown names, of the same cost as the users'.
	cost := bcrypt.DefaultCost
	for _, h := range users {
		if c, err := bcrypt.Cost(h); err == nil {
			cost = c
		}
		break
	}
	decoy, _ := bcrypt.GenerateFromPassword([]byte("frontgate decoy password"), cost)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, password, ok := r.BasicAuth()
		if ok {
			hash, known := users[name]
			if !known {
				hash = decoy
			}
			match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
			if subtle.ConstantTimeEq(boolInt(match), 1)&subtle.ConstantTimeEq(boolInt(known), 1) == 1 {
				r.Header.Del("Authorization")
				next.ServeHTTP(w, r)
				return
			}
		}
		if onFail != nil {
			onFail(r)
		}
		w.Header().Set("WWW-Authenticate", challenge)
		jsonerror.Write(w, r, http.StatusUnauthorized)
	})
}

func boolInt(b bool) int32 {
	if b {
		return 1
	}
	return 0
}
