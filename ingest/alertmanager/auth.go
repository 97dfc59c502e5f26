package alertmanager

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// authenticator checks a request's Authorization header. It keeps only
// SHA-256 digests of the secrets and compares digests in constant time, so
// neither the content nor the length of a secret leaks through timing.
type authenticator struct {
	basic     bool
	user      [sha256.Size]byte
	secret    [sha256.Size]byte // bearer token or password
	challenge string            // WWW-Authenticate value
}

func newAuthenticator(cr credentials) *authenticator {
	if cr.bearer != "" {
		return &authenticator{
			secret:    sha256.Sum256([]byte(cr.bearer)),
			challenge: `Bearer realm="corrd"`,
		}
	}
	return &authenticator{
		basic:     true,
		user:      sha256.Sum256([]byte(cr.username)),
		secret:    sha256.Sum256([]byte(cr.password)),
		challenge: `Basic realm="corrd", charset="UTF-8"`,
	}
}

// check reports whether r carries the configured credentials.
func (a *authenticator) check(r *http.Request) bool {
	if a.basic {
		user, pass, ok := r.BasicAuth()
		u := sha256.Sum256([]byte(user))
		p := sha256.Sum256([]byte(pass))
		okUser := subtle.ConstantTimeCompare(u[:], a.user[:])
		okPass := subtle.ConstantTimeCompare(p[:], a.secret[:])
		return ok && okUser&okPass == 1
	}
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	t := sha256.Sum256([]byte(h[len(prefix):]))
	return subtle.ConstantTimeCompare(t[:], a.secret[:]) == 1
}
