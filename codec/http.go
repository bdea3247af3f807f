package codec

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

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
	// Hosts are the names, besides loopback ones, by which clients reach
	// the endpoint: a name (any port) or a name:port. A request whose Host
	// header names anything else is refused with 421, so that a page in an
	// operator's browser that points its own name at a loopback address
	// (DNS rebinding) cannot call a local endpoint.
	Hosts []string
	// Timeout bounds the time a client takes to send a request's body, and
	// then to read its answer (default DefaultTimeout): a client that sends
	// half a request, or stops reading, is disconnected.
	Timeout time.Duration
}

// DefaultTimeout is HandlerOptions.Timeout's default.
const DefaultTimeout = time.Minute

// Handler serves Temporal's remote codec protocol (POST /encode and
// /decode with {"payloads": [...]}), the endpoint Temporal UI and the
// Temporal CLI (--codec-endpoint) call to show encrypted payloads to an
// operator who may read them. Browsers get CORS answers for Origins.
func Handler(keys *Keys, opts HandlerOptions) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(New(keys))
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body within timeout (Go's server lifts the read deadline once
		// it is read), the answer within the next: an answer given before
		// its body was read (401) is written after the server gave up
		// reading the body.
		rc := http.NewResponseController(w)
		if r.ContentLength != 0 {
			_ = rc.SetReadDeadline(time.Now().Add(timeout))
		}
		_ = rc.SetWriteDeadline(time.Now().Add(2 * timeout))
		if !HostAllowed(r.Host, opts.Hosts) {
			msg := fmt.Sprintf("Host %.100q is not a name of this codec endpoint: reach it by a loopback name (localhost, 127.0.0.1, [::1]) or add the name to STREAMBATCH_CODEC_HOSTS", r.Host)
			http.Error(w, msg, http.StatusMisdirectedRequest)
			return
		}
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

// HostAllowed reports whether a request's Host header (host or host:port)
// is a loopback name (localhost, 127.0.0.0/8, ::1) with any port, or one of
// hosts: an entry without a port matches that name with any port, an entry
// with a port only that port. Names compare case-insensitively, without a
// final dot.
func HostAllowed(host string, hosts []string) bool {
	name, port := splitHost(host)
	if name == "" {
		return false
	}
	if name == "localhost" {
		return true
	}
	if ip := net.ParseIP(name); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, h := range hosts {
		n, p := splitHost(h)
		if n == name && (p == "" || p == port) {
			return true
		}
	}
	return false
}

// splitHost returns the normalized name and the port of host[:port].
func splitHost(host string) (name, port string) {
	name = host
	if h, p, err := net.SplitHostPort(host); err == nil {
		name, port = h, p
	}
	name = strings.TrimSuffix(strings.Trim(name, "[]"), ".")
	return strings.ToLower(name), port
}

// maxRequestBytes bounds one request (Temporal's payload limit is 2 MiB;
// a UI page decodes a few at once).
const maxRequestBytes = 64 << 20
