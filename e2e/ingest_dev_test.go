package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/internal/proc"
)

// `streambatch dev` brings up the whole stack, prints its URLs and key, a
// curl-style Phase 1 + Phase 2 seals a batch that Temporal UI lists with its
// search attributes, and Ctrl-C stops every child.
func TestDevCommand(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	dir := t.TempDir()
	// As root, PostgreSQL runs as the user postgres, which must reach it.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "dev", "--data-dir", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "STREAMBATCH_HTTP_ADDR="+addr, "DATABASE_URL=", "S3_BUCKET=", "STREAMBATCH_JWT_SECRET=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, _ := os.Create(filepath.Join(dir, "dev.log"))
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	lines := map[string]string{}
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	for sc.Scan() && len(lines) < 4 {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok && (k == "API" || k == "Temporal UI" || k == "API key" || k == "Codec endpoint") {
			lines[k] = strings.Fields(v)[0]
		}
	}
	deadline.Stop()
	if len(lines) != 4 {
		log, _ := os.ReadFile(filepath.Join(dir, "dev.log"))
		t.Fatalf("dev printed %v\n%s", lines, log)
	}
	go func() { // keep draining stdout
		for sc.Scan() {
		}
	}()
	base := lines["API"]
	key := lines["API key"]

	api := endpoint{base}
	ui, codecURL := lines["Temporal UI"], lines["Codec endpoint"]
	uiClient := &http.Client{Timeout: time.Minute}
	var created createResp
	step(t, "Phase 1 and Phase 2 as curl sends them", func(t *testing.T) {
		api.call(t, http.MethodPost, "/api/v3/batches", key, strings.NewReader(`{"runCount":3}`), "application/json", nil).want(t, http.StatusAccepted, &created)
		if code, streamed, raw := api.streamWhole(t, key, created.ID, ndjson(simpleItems(3))); code != http.StatusOK || !streamed.Sealed {
			t.Fatalf("not sealed: %d %s", code, raw)
		}
	})
	step(t, "the UI lists the workflow, which seals", func(t *testing.T) {
		// The UI answers, and its API lists the workflow with its attributes;
		// the batch reaches SEALED once its runs exist (the answer came on the
		// items' durable acceptance).
		send(t, uiClient, http.MethodGet, ui+"/", nil).want(t, http.StatusOK, nil)
		var state []byte
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			query := ui + "/api/v1/namespaces/default/workflows?query=" + urlQuery(`BatchId="`+created.ID+`" AND WorkflowType="BatchIngest"`)
			var listed struct {
				Executions []struct {
					Execution        struct{ WorkflowID string } `json:"execution"`
					SearchAttributes struct {
						IndexedFields map[string]struct{ Data string } `json:"indexedFields"`
					} `json:"searchAttributes"`
				} `json:"executions"`
			}
			send(t, uiClient, http.MethodGet, query, nil).want(t, http.StatusOK, &listed)
			// Visibility is eventually consistent: a loaded server lists the
			// workflow a moment after it started.
			if len(listed.Executions) > 1 || (len(listed.Executions) == 1 && listed.Executions[0].Execution.WorkflowID != created.ID) {
				t.Fatalf("UI lists %+v", listed)
			}
			if len(listed.Executions) == 1 {
				state, _ = base64.StdEncoding.DecodeString(listed.Executions[0].SearchAttributes.IndexedFields["BatchState"].Data)
				// A small batch's BatchIngest goes on to execute its runs.
				if string(state) == `"SEALED"` || string(state) == `"PROCESSING"` {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("BatchState = %q a minute after the answer (UI lists %+v)", state, listed)
			}
		}
	})
	step(t, "the codec endpoint decodes for the UI", func(t *testing.T) {
		// The UI decodes payloads through dev's codec endpoint, which answers
		// the UI's origin and decrypts with the keys dev keeps.
		var settings struct {
			Codec struct{ Endpoint string } `json:"Codec"`
		}
		send(t, uiClient, http.MethodGet, ui+"/api/v1/settings", nil).want(t, http.StatusOK, &settings)
		if settings.Codec.Endpoint != codecURL {
			t.Fatalf("the UI's codec endpoint is %q, want %q", settings.Codec.Endpoint, codecURL)
		}
		rawKeys, err := os.ReadFile(filepath.Join(dir, "data", "payload-keys"))
		if err != nil {
			t.Fatal(err)
		}
		keys, err := codec.ParseKeys(strings.TrimSpace(string(rawKeys)))
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := codec.DataConverter(keys).ToPayload("shown in the UI")
		body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{enc}})
		resp := send(t, http.DefaultClient, http.MethodPost, codecURL+"/decode", bytes.NewReader(body), func(r *http.Request) {
			r.Header.Set("Origin", ui)
			r.Header.Set("Content-Type", "application/json")
		})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != ui || !strings.Contains(string(resp.Body), base64.StdEncoding.EncodeToString([]byte(`"shown in the UI"`))) {
			t.Fatalf("codec endpoint: %d, CORS %q, %s", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), resp.Body)
		}
	})
	step(t, "Ctrl-C stops every service", func(t *testing.T) {
		// Ctrl-C: the command exits cleanly and its services stop listening.
		uiAddr := strings.TrimPrefix(ui, "http://")
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("dev exited with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("dev did not stop within 60 s of SIGINT")
		}
		for _, a := range []string{strings.TrimPrefix(base, "http://"), uiAddr, strings.TrimPrefix(codecURL, "http://")} {
			if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
				c.Close()
				t.Fatalf("%s still listening after dev stopped", a)
			}
		}
	})
}

func urlQuery(q string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", "=", "%3D")
	return r.Replace(q)
}
