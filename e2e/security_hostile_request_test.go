package e2e

// Hostile input, part 2: the Phase 2 request itself (headers, ids, body
// framing, timing), in process and against a real `streambatch serve`
// (ReadHeaderTimeout 10 s, MaxHeaderBytes 64 KiB).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/proc"
)

func TestHostilePhase2Request(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	id := s.mustCreate(t, key, 2)
	line := `{"index":0,"task":"t"}` + "\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(line))
	zw.Close()
	long := "batch_" + strings.Repeat("a", 10<<10)
	cases := []struct {
		name, path  string // path: the escaped batch id segment(s)
		ct, enc     string
		body        string
		status      int
		want        string
		noCT, empty bool
	}{
		{name: "text/plain", path: id, ct: "text/plain", body: line, status: 415, want: "Content-Type must be application/x-ndjson"},
		{name: "application/json", path: id, ct: "application/json", body: line, status: 415, want: "Content-Type must be application/x-ndjson"},
		{name: "multipart", path: id, ct: "multipart/form-data; boundary=x", body: line, status: 415, want: "Content-Type must be application/x-ndjson"},
		{name: "no Content-Type", path: id, noCT: true, body: line, status: 415, want: "Content-Type must be application/x-ndjson"},
		{name: "Content-Encoding gzip (gzip body)", path: id, ct: "application/x-ndjson", enc: "gzip", body: gz.String(), status: 415, want: "Content-Encoding gzip is not supported"},
		{name: "Content-Encoding br", path: id, ct: "application/x-ndjson", enc: "br", body: line, status: 415, want: "Content-Encoding br is not supported"},
		{name: "Content-Encoding gzip, identity", path: id, ct: "application/x-ndjson", enc: "gzip, identity", body: line, status: 415, want: "is not supported"},
		{name: "Content-Encoding of 2 KB", path: id, ct: "application/x-ndjson", enc: strings.Repeat("z", 2048), body: line, status: 415, want: "is not supported"},
		{name: "unknown batch", path: "batch_" + strings.Repeat("0", 24), ct: "application/x-ndjson", body: line, status: 422, want: "Batch batch_000000000000000000000000 not found"},
		{name: "traversal batch_..%2F..", path: "batch_..%2F..", ct: "application/x-ndjson", body: line, status: 404, want: "Not found"},
		{name: "traversal ..%2F..%2Fbatches%2F<id>", path: "..%2F..%2Fbatches%2F" + id, ct: "application/x-ndjson", body: line, status: 404, want: "Not found"},
		{name: "traversal raw ../", path: "../batches/" + id, ct: "application/x-ndjson", body: line, status: 404, want: "Not found"},
		{name: "dot-dot id", path: "..", ct: "application/x-ndjson", body: line, status: 422, want: "Batch .. not found"},
		{name: "SQL batch_' OR 1=1--", path: url.PathEscape("batch_' OR 1=1--"), ct: "application/x-ndjson", body: line, status: 422, want: "not found"},
		{name: "SQL drop table", path: url.PathEscape("batch_x'; DROP TABLE runs;--"), ct: "application/x-ndjson", body: line, status: 422, want: "not found"},
		{name: "id of 10 KB", path: long, ct: "application/x-ndjson", body: line, status: 422, want: "not found"},
		{name: "unicode id", path: url.PathEscape("batch_ünïcødé🙂ünïcødé🙂ünï"), ct: "application/x-ndjson", body: line, status: 422, want: "not found"},
		{name: "long unicode id (cut mid-character in the message)", path: url.PathEscape("batch_" + strings.Repeat("é", 100)), ct: "application/x-ndjson", body: line, status: 422, want: "not found"},
		{name: "RTL override in id", path: url.PathEscape("batch_\u202eabcdefabcdefabcdefabcdef"), ct: "application/x-ndjson", body: line, status: 422, want: "not found"},
		{name: "NUL in id", path: "batch_%00" + strings.Repeat("a", 23), ct: "application/x-ndjson", body: line, status: 422, want: "not found"},
		{name: "newline in id", path: id + "%0A", ct: "application/x-ndjson", body: line, status: 422, want: "not found"},
		{name: "upper-case id", path: strings.ToUpper(id), ct: "application/x-ndjson", body: line, status: 422, want: "not found"},
		{name: "empty body (Content-Length: 0)", path: id, ct: "application/x-ndjson", empty: true, status: 400, want: "Request body is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tc.body)
			if tc.empty {
				body = http.NoBody
			}
			r := send(t, noRedirectClient, http.MethodPost, s.URL+"/api/v3/batches/"+tc.path+"/items", body, func(r *http.Request) {
				r.Header.Set("Authorization", "Bearer "+key)
				if !tc.noCT {
					r.Header.Set("Content-Type", tc.ct)
				}
				if tc.enc != "" {
					r.Header.Set("Content-Encoding", tc.enc)
				}
			})
			hxWantError(t, tc.name, r, tc.status, tc.want)
			if strings.Contains(r.Msg, strings.Repeat("a", 100)) || strings.Contains(r.Msg, strings.Repeat("z", 100)) {
				t.Errorf("the message echoes the long input: %q", cut(r.Msg, 200))
			}
			if tc.status != 422 || tc.path == id {
				return
			}
			// The same hostile id on the other batch endpoints: 404.
			for _, ep := range []struct{ method, suffix string }{{"GET", ""}, {"GET", "/runs"}, {"GET", "/missing"}, {"POST", "/abort"}} {
				r := send(t, noRedirectClient, ep.method, s.URL+"/api/v3/batches/"+tc.path+ep.suffix, nil, withKey(key, ""))
				hxWantError(t, ep.method+" "+ep.suffix, r, 404, "not found")
			}
		})
	}
	// A chunked body with no bytes at all, or only blank lines, is an empty
	// stream (the trigger.dev SDK's resume case): 200, nothing accepted.
	for name, body := range map[string]string{"chunked, zero bytes": "", "blank lines only": "\n\r\n \t\n"} {
		r := s.hxStream(t, key, id, []byte(body))
		var res streamResp
		if r.StatusCode != 200 || json.Unmarshal(r.Body, &res) != nil || res.Sealed || res.ItemsAccepted != 0 || res.EnqueuedCount == nil || *res.EnqueuedCount != 0 {
			t.Errorf("%s: %s", name, r)
		}
	}
	s.hxAssertNothingStray(t, env, key, id, 2)
}

// rawHTTP sends raw bytes on a fresh connection to addr, half-closes it and
// reads the answer (an error when the server closes without one).
func hxRawHTTP(addr, request string) (*http.Response, []byte, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		return nil, nil, err
	}
	c.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw, nil
}

// Broken body framing: a body shorter than its Content-Length, a chunked
// body cut in the middle, malformed chunk sizes. The client is at fault:
// 400, not 500; only the complete line before the break (index 0) may be
// kept.
func TestHostileBrokenBodyFraming(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	id := s.mustCreate(t, key, 2)
	addr := s.api.Listener.Addr().String()
	head := func(path, extra string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\n" + extra + "\r\n"
	}
	items := "/api/v3/batches/" + id + "/items"
	line := `{"index":0,"task":"t"}` + "\n"
	chunk := fmt.Sprintf("%x\r\n%s\r\n", len(line), line)
	cases := []struct {
		name, request string
		status        int
		want          string
	}{
		{"items: shorter than Content-Length", head(items, "Content-Type: application/x-ndjson\r\nContent-Length: 1000\r\n") + line, 400, "ended before"},
		{"items: chunked, cut mid-stream", head(items, "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n") + chunk, 400, "ended before"},
		{"items: malformed chunk size", head(items, "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n") + chunk + "zz\r\nxx\r\n0\r\n\r\n", 400, ""},
		{"items: chunk size overflow", head(items, "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n") + chunk + "ffffffffffffffffffff\r\nxx\r\n0\r\n\r\n", 400, ""},
		{"items: chunk without CRLF", head(items, "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n") + chunk + "2\r\nxxyy0\r\n\r\n", 400, ""},
		{"create: malformed chunk size", head("/api/v3/batches", "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n") + "zz\r\n{}\r\n0\r\n\r\n", 400, ""},
		{"abort: malformed chunk size", head("/api/v3/batches/"+id+"/abort", "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n") + "zz\r\n{}\r\n0\r\n\r\n", 400, ""},
		{"abort: shorter than Content-Length", head("/api/v3/batches/"+id+"/abort", "Content-Type: application/json\r\nContent-Length: 100\r\n") + `{"reason":`, 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw, err := hxRawHTTP(addr, tc.request)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			r := reply{StatusCode: resp.StatusCode, Header: resp.Header, Body: raw}
			hxWantError(t, tc.name, r, tc.status, tc.want)
		})
	}
	s.hxAssertOnlyEarlierLines(t, env, key, id, 2, map[int]bool{0: true})
}

// hxServe starts `streambatch serve` (the real http.Server settings) with
// extra environment variables and returns its address.
func (s *stack) hxServe(t *testing.T, name string, extra ...string) string {
	t.Helper()
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	env := append(s.env(s.cfg), append([]string{config.EnvHTTPAddr + "=" + addr}, extra...)...)
	p, err := proc.StartProcess(filepath.Join(s.dir, name+".log"), env, s.bin, "serve")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	if err := waitHTTP("http://"+addr+"/readyz", 60*time.Second); err != nil {
		log, _ := os.ReadFile(p.Log)
		t.Fatalf("serve not ready (exited: %v): %v; its log ends:\n%s", p.Exited(), err, tail(string(log), 3000))
	}
	return addr
}

// Transport-level abuse against `streambatch serve` with
// STREAMBATCH_BODY_IDLE_TIMEOUT=1s and STREAMBATCH_HTTP_READ_TIMEOUT=1s:
// oversized headers, many headers, slow headers (slowloris), a stalled
// body, heads whose body never comes, and a slow but steady stream that
// must succeed (Phase 2 is bounded by its idle timeout, not the read
// timeout). The slow cases run concurrently.
func TestHostileServeTransport(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	addr := s.hxServe(t, "serve-hostile", config.EnvBodyIdleTimeout+"=1s", config.EnvHTTPReadTimeout+"=1s")
	base := "http://" + addr
	env, key := s.newKey(t)
	// create and paced run in the concurrent cases' goroutines: they build
	// their requests themselves and return errors instead of failing the
	// test from another goroutine.
	create := func(n int) (string, error) {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v3/batches", strings.NewReader(fmt.Sprintf(`{"runCount":%d}`, n)))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := boundedClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var out createResp
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 202 {
			return "", fmt.Errorf("create: %d %v", resp.StatusCode, err)
		}
		return out.ID, nil
	}
	// paced streams lines, pausing before each one after the first.
	paced := func(id string, lines []string, pause time.Duration) (int, []byte, error) {
		pr, pw := io.Pipe()
		go func() {
			for k, l := range lines {
				if k > 0 {
					time.Sleep(pause)
				}
				if _, err := io.WriteString(pw, l); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v3/batches/"+id+"/items", pr)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := boundedClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw, nil
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	report := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	note := func(format string, args ...any) {
		mu.Lock()
		t.Logf(format, args...)
		mu.Unlock()
	}
	slow := map[string]func(){
		// Half a request line, then nothing: closed after ReadHeaderTimeout.
		"slow request line": func() {
			elapsed, got, err := hxStall(addr, "POST /api/v3/batc", nil)
			// net/http may write a plain "400 Bad Request" as it closes.
			note("slow request line: closed after %s (%v), read %q", elapsed.Round(100*time.Millisecond), err, got)
			if elapsed > 15*time.Second || elapsed < 8*time.Second {
				report("slow request line: connection closed after %s, want ≈10 s", elapsed)
			}
		},
		// Slowloris: headers trickled one byte every 500 ms are cut at the
		// same 10 s, however long they keep coming.
		"slowloris headers": func() {
			trickle := "POST /api/v3/batches HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 60)
			elapsed, got, err := hxStall(addr, trickle[:40], []byte(trickle[40:]))
			note("slowloris: closed after %s (%v), read %q", elapsed.Round(100*time.Millisecond), err, got)
			if elapsed > 15*time.Second || elapsed < 8*time.Second {
				report("slowloris: connection closed after %s, want ≈10 s", elapsed)
			}
		},
		// One line, then a stall longer than the 1 s idle timeout: 408.
		"stalled body": func() {
			id, err := create(3)
			if err != nil {
				report("stalled body: %v", err)
				return
			}
			start := time.Now()
			status, raw, err := paced(id, []string{`{"index":0,"task":"t"}` + "\n", `{"index":1,"task":"t"}` + "\n"}, 4*time.Second)
			note("stalled body: %d %s after %s (%v)", status, raw, time.Since(start).Round(100*time.Millisecond), err)
			if err != nil || status != http.StatusRequestTimeout || !strings.Contains(string(raw), "sent nothing for 1s") || !bytes.HasPrefix(raw, []byte(`{"error":`)) {
				report("stalled body: %d %s %v, want 408", status, raw, err)
			}
			// Answered while the client still stalled (its second line
			// goes at 4 s): the idle timeout, not the line, ended it.
			if time.Since(start) >= 4*time.Second {
				report("stalled body: answered after %s, want ≈1 s, before the second line", time.Since(start))
			}
			time.Sleep(500 * time.Millisecond)
			if n, _, _ := s.app.Store.CountRuns(t.Context(), id); n != 0 {
				report("stalled body: %d runs from a timed-out stream", n)
			}
		},
		// Heads that announce a body and send none: each connection is
		// closed after the read timeout, whether its answer came before the body (401, 404) or
		// while reading it (408).
		"unfinished bodies": func() {
			heads := map[string]string{
				"POST /api/v3/batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n":                  "401",
				"GET /api/v3/batches/batch_x/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n":                                        "401",
				"POST /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n":                                                           "404",
				"POST /api/v3/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\nContent-Length: 1000\r\n\r\n{\"runCount\":": "408",
			}
			var hw sync.WaitGroup
			for head, status := range heads {
				for range 10 {
					hw.Go(func() {
						elapsed, got, err := hxStall(addr, head, nil)
						line := strings.SplitN(head, "\r\n", 2)[0]
						if elapsed >= 25*time.Second {
							report("unfinished body %q: connection still open after %s (%v)", line, elapsed, err)
						} else if !strings.HasPrefix(got, "HTTP/1.1 "+status+" ") {
							report("unfinished body %q: answered %.200q, want %s", line, got, status)
						}
					})
				}
			}
			hw.Wait()
		},
		// A line every 200 ms for 3 s (each gap below the 1 s idle
		// timeout): the long stream succeeds.
		"steady stream": func() {
			const n = 15
			id, err := create(n)
			if err != nil {
				report("steady: %v", err)
				return
			}
			lines := make([]string, n)
			for i := range lines {
				lines[i] = fmt.Sprintf(`{"index":%d,"task":"t","payload":"p%d"}`+"\n", i, i)
			}
			start := time.Now()
			status, raw, err := paced(id, lines, 200*time.Millisecond)
			note("steady stream: %d %s after %s", status, raw, time.Since(start).Round(100*time.Millisecond))
			if err != nil || status != 200 || !strings.Contains(string(raw), `"sealed":true`) || !strings.Contains(string(raw), `"itemsAccepted":15`) {
				report("steady stream: %d %s %v", status, raw, err)
			}
		},
	}
	for name, f := range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					report("%s: panic %v", name, p)
				}
			}()
			f()
		}()
	}

	// Meanwhile, the header limits (answered by net/http itself).
	big := strings.Repeat("h", 70<<10)
	for _, tc := range []struct {
		name   string
		edit   func(*http.Request)
		status int
	}{
		{"one 70 KiB header", func(r *http.Request) { r.Header.Set("X-Big", big) }, 431},
		{"70 KiB Authorization", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+big) }, 431},
		{"1,000 headers of 80 bytes", func(r *http.Request) {
			for k := range 1000 {
				r.Header.Set(fmt.Sprintf("X-H-%04d", k), strings.Repeat("v", 80))
			}
		}, 431},
		{"1,000 small headers", func(r *http.Request) {
			for k := range 1000 {
				r.Header.Set(fmt.Sprintf("X-H-%04d", k), "v")
			}
		}, 200},
		{"1,000 repeated Authorization headers, the first valid", func(r *http.Request) {
			for range 999 {
				r.Header.Add("Authorization", "Bearer sb_wrong")
			}
		}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, boundedClient, http.MethodGet, base+"/api/v3/batches/batch_"+strings.Repeat("0", 24)+"/missing", nil, func(r *http.Request) {
				r.Header.Set("Authorization", "Bearer "+key)
				tc.edit(r)
			})
			want := tc.status
			if want == 200 {
				want = 404 // the batch does not exist: the request got through
			}
			if r.StatusCode != want {
				t.Errorf("%s: %s, want %d", tc.name, r, want)
			}
			t.Logf("%s: %s", tc.name, r)
		})
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if keys := s.hxPackets(t, env); len(keys) != 0 {
		t.Errorf("objects: %v", keys)
	}
	// The server survived all of it.
	if err := waitHTTP(base+"/readyz", 5*time.Second); err != nil {
		t.Errorf("serve is not ready after the abuse: %v", err)
	}
}

// hxStall opens a connection, writes first, then trickles rest one byte
// every 500 ms (if any), and measures how long the server keeps the
// connection open. It returns what the server sent.
func hxStall(addr, first string, rest []byte) (time.Duration, string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, first); err != nil {
		return 0, "", err
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for _, b := range rest {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(25 * time.Second))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return 25 * time.Second, string(got), err
	}
	return time.Since(start), string(got), err
}
