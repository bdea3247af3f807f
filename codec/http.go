package codec

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// HandlerOptions configure the codec endpoint.
type HandlerOptions struct {
	// Origins are the browser origins (Temporal UI's, e.g.
	// http://localhost:8233) allowed to call the endpoint.
	Origins []string
	// Token, when set, is required as "Authorization: Bearer <token>"
	// (Temporal UI sends its user's access token with "pass access
	// token").
	Token string
}

// Handler serves Temporal's remote codec protocol (POST /encode and
// /decode with {"payloads": [...]}), the endpoint Temporal UI and the
// Temporal CLI (--codec-endpoint) call to show encrypted payloads to an
// operator who may read them. Browsers get CORS answers for Origins.
func Handler(keys *Keys, opts HandlerOptions) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(New(keys))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(opts.Origins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST, OPTIONS")
			http.Error(w, "use POST /encode or POST /decode", http.StatusMethodNotAllowed)
			return
		}
		if opts.Token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(opts.Token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="streambatch codec"`)
				http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
		inner.ServeHTTP(w, r)
	})
}

// maxRequestBytes bounds one request (Temporal's payload limit is 2 MiB;
// a UI page decodes a few at once).
const maxRequestBytes = 64 << 20
