package e2e

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/proc"
)

// SIGTERM to `streambatch serve` lets an in-flight Phase 2 stream finish
// (sealed, every run created), refuses new connections, and exits 0.
func TestServeShutsDownGracefully(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	env := append(s.env(s.cfg), config.EnvHTTPAddr+"="+addr)
	p, err := proc.StartProcess(filepath.Join(s.dir, "serve-shutdown.log"), env, s.bin, "serve")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if err := waitHTTP("http://"+addr+"/readyz", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr
	_, key := s.newKey(t)
	const n = 400
	api := endpoint{base}
	var created createResp
	api.call(t, http.MethodPost, "/api/v3/batches", key, stringsReader(`{"runCount":400}`), "", nil).want(t, http.StatusAccepted, &created)

	body := ndjson(simpleItems(n))
	pr, pw := io.Pipe()
	answer := make(chan streamResp, 1)
	go func() {
		var res streamResp
		api.call(t, http.MethodPost, itemsPath(created.ID), key, pr, "application/x-ndjson", nil).want(t, http.StatusOK, &res)
		answer <- res
	}()
	half := len(body) / 2
	if _, err := pw.Write(body[:half]); err != nil {
		t.Fatal(err)
	}
	// The request is being served once its first chunk (the stack's
	// ChunkItems is 100) reached the workflow.
	for deadline := time.Now().Add(60 * time.Second); api.missing(t, key, created.ID).AcceptedCount == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first half of the stream reached no workflow")
		}
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("serve still accepts connections 30 s after SIGTERM")
		}
	}
	if _, err := pw.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	select {
	case res := <-answer:
		if !res.Sealed || res.ItemsAccepted != n {
			t.Fatalf("in-flight stream: %+v", res)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the in-flight stream got no answer")
	}
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after its last request")
	}
	waitRuns(t, s, created.ID, n)
}

func waitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
