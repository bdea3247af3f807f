package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// itemsRoute is Phase 2's route, which bounds its body by BodyIdleTimeout
// instead of the whole-request read deadline (body.go).
const itemsRoute = "/api/v3/batches/:batchId/items"

// NewHTTPServer returns the http.Server that serves handler in production
// (the API, and the codec endpoint): the time to send the request head,
// the idle time of a kept-alive connection and the head's size are
// bounded here; the time to send a body and to read an answer are bounded
// per route by the API's deadlines middleware (Options.ReadTimeout and
// WriteTimeout), since Phase 2 streams for as long as it keeps sending.
func NewHTTPServer(handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// deadlines bounds how long a client may hold a request's connection:
// every request except a Phase 2 stream must finish sending its body within
// ReadTimeout (a body the handler does not read, as after a 401, is then
// cut, and with it the connection), and every answer except Phase 2's must
// be taken by the client within WriteTimeout of its first byte, so that a
// client that stops reading does not pin the handler and its page.
//
// Go's server lifts the read deadline once the body is read, when it starts
// the read that notices a client leaving (a deadline there would cancel a
// long request, such as a ?wait= long poll), and a bodiless request gets
// none. The write deadline starts at the answer's first byte, so a long
// poll may wait longer than WriteTimeout.
func (s *Server) deadlines(c *gin.Context) {
	rc := http.NewResponseController(c.Writer)
	// The server sets no write deadline of its own (WriteTimeout is 0):
	// clear one an earlier request on this connection left.
	_ = rc.SetWriteDeadline(time.Time{})
	if c.Request.Method == http.MethodPost && c.FullPath() == itemsRoute {
		return
	}
	if s.opts.ReadTimeout > 0 && c.Request.ContentLength != 0 {
		_ = rc.SetReadDeadline(time.Now().Add(s.opts.ReadTimeout))
	}
	if s.opts.WriteTimeout > 0 {
		c.Writer = &writeDeadline{ResponseWriter: c.Writer, rc: rc, d: s.opts.WriteTimeout}
	}
}

// writeDeadline sets the connection's write deadline at the answer's first
// byte.
type writeDeadline struct {
	gin.ResponseWriter
	rc  *http.ResponseController
	d   time.Duration
	set bool
}

func (w *writeDeadline) arm() {
	if !w.set {
		w.set = true
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	}
}

func (w *writeDeadline) Write(p []byte) (int, error) {
	w.arm()
	return w.ResponseWriter.Write(p)
}

func (w *writeDeadline) WriteString(s string) (int, error) {
	w.arm()
	return w.ResponseWriter.WriteString(s)
}

func (w *writeDeadline) WriteHeaderNow() {
	w.arm()
	w.ResponseWriter.WriteHeaderNow()
}

func (w *writeDeadline) Flush() {
	w.arm()
	w.ResponseWriter.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *writeDeadline) Unwrap() http.ResponseWriter { return w.ResponseWriter }
