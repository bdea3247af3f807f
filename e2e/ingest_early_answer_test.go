package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// sendWholeBodyFirst sends a Phase 2 request as Python's http.client does:
// headers and the whole body first, the answer read only after.
func sendWholeBodyFirst(t *testing.T, base, key, batchID string, body []byte) (int, string) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	head := fmt.Sprintf("POST /api/v3/batches/%s/items HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n", batchID, u.Host, key, len(body))
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(body); err != nil {
		t.Fatalf("writing the body: %v (the server closed the connection before reading it)", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// A client that sends its whole body before it reads the answer gets the
// early answers too: the 200 of a re-send to a sealed batch and the 401 of
// a wrong key, not a broken pipe after the first 256 KiB.
func TestEarlyAnswersAfterWholeBody(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	id := s.mustCreate(t, key, 3)
	if status, res, raw := s.stream(t, key, id, ndjson(simpleItems(3))); status != 200 || !res.Sealed {
		t.Fatalf("stream: %d %s", status, raw)
	}
	// 20 MB of lines the server never needs.
	var big bytes.Buffer
	line := `{"index":0,"task":"t","payload":"` + strings.Repeat("x", 1000) + `"}` + "\n"
	for big.Len() < 20<<20 {
		big.WriteString(line)
	}
	if status, raw := sendWholeBodyFirst(t, s.URL, key, id, big.Bytes()); status != 200 || !strings.Contains(raw, `"sealed":true`) {
		t.Fatalf("re-send to a sealed batch: %d %s", status, raw)
	}
	if status, raw := sendWholeBodyFirst(t, s.URL, "sb_"+strings.Repeat("w", 40), id, big.Bytes()); status != 401 {
		t.Fatalf("wrong key: %d %s", status, raw)
	}
}
