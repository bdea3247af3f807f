package api

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// serveForTest serves s's engine, with extra routes added by add, on the
// http.Server production uses.
func serveForTest(t *testing.T, opts Options, add func(*gin.Engine)) *httptest.Server {
	t.Helper()
	gin.SetMode(gin.TestMode)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(opts, Deps{Log: logger})
	e := s.engine()
	if add != nil {
		add(e)
	}
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = NewHTTPServer(e, logger)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// readUntilClosed reads conn until the server closes it and returns what
// it read; it fails the test if the connection is still open after bound.
func readUntilClosed(t *testing.T, conn net.Conn, bound time.Duration) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(bound))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s; read %d bytes: %.200q", bound, len(got), got)
	}
	return string(got)
}

// TestUnfinishedBodyIsCut: a request head that announces a body and sends
// none, answered before its body is read (no credentials, no route) or
// while reading it, loses its connection once the read timeout passes.
func TestUnfinishedBodyIsCut(t *testing.T) {
	t.Parallel()
	ts := serveForTest(t, Options{ReadTimeout: 200 * time.Millisecond, WriteTimeout: time.Second}, func(e *gin.Engine) {
		e.POST("/test/echo", func(c *gin.Context) {
			_, err := io.ReadAll(c.Request.Body)
			if err != nil {
				failBodyRead(c, err)
				return
			}
			c.Status(http.StatusNoContent)
		})
	})
	heads := []struct{ head, status string }{
		{"POST /api/v3/batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", "401"},
		{"GET /api/v3/batches/batch_x/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", "401"},
		{"POST /api/v3/nothing-here HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", "404"},
		{"POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"a\":", "408"},
		{"POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n", "408"},
	}
	for _, h := range heads {
		for range 5 {
			conn, err := net.Dial("tcp", ts.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, h.head); err != nil {
				t.Fatal(err)
			}
			got := readUntilClosed(t, conn, 30*time.Second)
			if !strings.HasPrefix(got, "HTTP/1.1 "+h.status+" ") {
				t.Errorf("%q: answered %.200q, want %s", strings.SplitN(h.head, "\r\n", 2)[0], got, h.status)
			}
		}
	}
}

// TestStalledReaderIsReleased: a client that stops reading a large answer
// gets its connection closed once the write timeout passes, and the handler
// writing it returns.
func TestStalledReaderIsReleased(t *testing.T) {
	t.Parallel()
	const chunk, chunks = 1 << 20, 512
	done := make(chan error, 1)
	ts := serveForTest(t, Options{ReadTimeout: time.Second, WriteTimeout: 200 * time.Millisecond}, func(e *gin.Engine) {
		e.GET("/test/big", func(c *gin.Context) {
			buf := make([]byte, chunk)
			for range chunks {
				if _, err := c.Writer.Write(buf); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		})
	})
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /test/big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("handler's write ended with %v, want the write deadline", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the handler is still writing to a client that reads nothing after 30s")
	}
	got := readUntilClosed(t, conn, 30*time.Second)
	if len(got) >= chunk*chunks {
		t.Fatalf("read the whole answer (%d bytes)", len(got))
	}
	if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Fatalf("answered %.200q", got)
	}
}

// TestWriteDeadlineStartsAtFirstByte: an answer that comes late (a ?wait=
// long poll) is still delivered: the write timeout counts from its first
// byte, and the read timeout does not cancel a request whose body is read.
func TestWriteDeadlineStartsAtFirstByte(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	ts := serveForTest(t, Options{ReadTimeout: timeout, WriteTimeout: timeout}, func(e *gin.Engine) {
		slow := func(c *gin.Context) {
			if _, err := io.ReadAll(c.Request.Body); err != nil {
				failBodyRead(c, err)
				return
			}
			select {
			case <-time.After(4 * timeout):
			case <-c.Request.Context().Done():
				c.String(http.StatusServiceUnavailable, "cancelled: %v", context.Cause(c.Request.Context()))
				return
			}
			c.String(http.StatusOK, "late")
		}
		e.GET("/test/late", slow)
		e.POST("/test/late", slow)
	})
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for _, req := range []string{
		"GET /test/late HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /test/late HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
		"GET /test/late HTTP/1.1\r\nHost: x\r\n\r\n", // on the same connection
	} {
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK || string(body) != "late" {
			t.Fatalf("%q: %d %q %v", strings.SplitN(req, "\r\n", 2)[0], res.StatusCode, body, err)
		}
	}
}
