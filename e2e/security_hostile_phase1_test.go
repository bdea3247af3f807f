package e2e

// Hostile input, part 3: Phase 1 bodies, presign filenames and the query
// parameters of the read endpoints.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/wire"
)

// hxDB connects to the test database (there is no exported raw pool).
func (s *stack) hxDB(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// hxBatchesOf counts the batch rows of an environment.
func (s *stack) hxBatchesOf(t *testing.T, env string) int {
	t.Helper()
	var n int
	err := s.hxDB(t).QueryRow(context.Background(),
		`SELECT count(*) FROM batches b JOIN environments e ON e.id = b.environment_id WHERE e.name = $1`, env).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// hxRandomRunes returns n random characters of [lo, hi] (incompressible).
func hxRandomRunes(seed uint64, n int, lo, hi rune) string {
	r := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	for range n {
		b.WriteRune(lo + rune(r.IntN(int(hi-lo+1))))
	}
	return b.String()
}

func TestHostilePhase1(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	pad := func(n int) string { // a valid body of exactly n bytes
		head := `{"runCount":1,"pad":"`
		return head + strings.Repeat("p", n-len(head)-2) + `"}`
	}
	nest := `{"runCount":1,"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`
	many := make([]string, 501)
	for k := range many {
		many[k] = fmt.Sprintf("%q", fmt.Sprint("t", k))
	}
	cases := []struct {
		name, body string
		chunked    bool
		status     int
		want       string
	}{
		{"130 KiB with Content-Length", pad(130 << 10), false, 413, "Request body too large"},
		{"130 KiB chunked", pad(130 << 10), true, 413, "Request body too large"},
		{"128 KiB + 1 chunked", pad(128<<10 + 1), true, 413, "Request body too large"},
		{"exactly 128 KiB, chunked", pad(128 << 10), true, 202, ""},
		{"runCount 0", `{"runCount":0}`, false, 400, "runCount must be a positive integer, got 0"},
		{"runCount -1", `{"runCount":-1}`, false, 400, "runCount must be a positive integer, got -1"},
		{"runCount -0", `{"runCount":-0}`, false, 400, "runCount must be a positive integer"},
		{"runCount 1.5", `{"runCount":1.5}`, false, 400, "runCount must be a positive integer, got 1.5"},
		{"runCount \"5\"", `{"runCount":"5"}`, false, 400, `runCount must be a positive integer, got "5"`},
		{"runCount 1e12", `{"runCount":1e12}`, false, 400, "exceeds maximum allowed of 1000000"},
		{"runCount max + 1", `{"runCount":1000001}`, false, 400, "exceeds maximum allowed of 1000000"},
		{"runCount 1e400", `{"runCount":1e400}`, false, 400, "runCount must be a positive integer"},
		{"runCount true", `{"runCount":true}`, false, 400, "runCount must be a positive integer"},
		{"runCount array", `{"runCount":[5]}`, false, 400, "runCount must be a positive integer"},
		{"runCount object", `{"runCount":{"n":5}}`, false, 400, "runCount must be a positive integer"},
		{"runCount null", `{"runCount":null}`, false, 400, "runCount is required"},
		{"runCount missing", `{"count":5}`, false, 400, "runCount is required"},
		{"not JSON", `runCount=5`, false, 400, "Invalid JSON"},
		{"truncated JSON", `{"runCount":5`, false, 400, "Invalid JSON"},
		{"JSON array", `[{"runCount":5}]`, false, 400, "expected a JSON object"},
		{"JSON string", `"{\"runCount\":5}"`, false, 400, "expected a JSON object"},
		{"JSON null", `null`, false, 400, "runCount is required"},
		{"whitespace only", " \n\t ", false, 400, "Request body is empty"},
		{"nesting bomb in an unknown key", nest, false, 400, "Invalid JSON"},
		{"idempotencyKey of 2049 characters", `{"runCount":1,"idempotencyKey":"` + strings.Repeat("k", 2049) + `"}`, false, 400, "idempotencyKey must be at most 2048 characters"},
		{"idempotencyKey of 2049 two-byte characters", `{"runCount":1,"idempotencyKey":"` + strings.Repeat("é", 2049) + `"}`, false, 400, "idempotencyKey must be at most 2048 characters"},
		{"idempotencyKey empty", `{"runCount":1,"idempotencyKey":""}`, false, 400, "idempotencyKey must be a non-empty string"},
		{"idempotencyKey number", `{"runCount":1,"idempotencyKey":5}`, false, 400, "idempotencyKey must be a non-empty string"},
		{"idempotencyKey with U+0000", `{"runCount":1,"idempotencyKey":"a\u0000b"}`, false, 400, "idempotencyKey must not contain U+0000"},
		{"taskIdentifiers string", `{"runCount":1,"taskIdentifiers":"a"}`, false, 400, "taskIdentifiers must be a non-empty array"},
		{"taskIdentifiers empty", `{"runCount":1,"taskIdentifiers":[]}`, false, 400, "taskIdentifiers must be a non-empty array"},
		{"taskIdentifiers with an empty string", `{"runCount":1,"taskIdentifiers":["a",""]}`, false, 400, "taskIdentifiers must hold non-empty strings"},
		{"taskIdentifiers with a number", `{"runCount":1,"taskIdentifiers":[1]}`, false, 400, "taskIdentifiers must be a non-empty array"},
		{"taskIdentifiers with U+0000", `{"runCount":1,"taskIdentifiers":["a\u0000"]}`, false, 400, "taskIdentifiers must hold non-empty strings"},
		{"taskIdentifiers of 257 bytes", `{"runCount":1,"taskIdentifiers":["` + strings.Repeat("t", 257) + `"]}`, false, 400, "at most 256 bytes"},
		{"taskIdentifiers 501", `{"runCount":1,"taskIdentifiers":[` + strings.Join(many, ",") + `]}`, false, 400, "at most 500 tasks"},
		{"parentRunId number", `{"runCount":1,"parentRunId":5}`, false, 400, "parentRunId must be a run id string"},
		{"resumeParentOnCompletion string", `{"runCount":1,"resumeParentOnCompletion":"yes"}`, false, 400, "resumeParentOnCompletion must be a boolean"},
		{"idempotencyKeyOptions key number", `{"runCount":1,"idempotencyKeyOptions":{"key":1,"scope":"run"}}`, false, 400, "idempotencyKeyOptions must be"},
		{"idempotencyKeyOptions string", `{"runCount":1,"idempotencyKeyOptions":"x"}`, false, 400, "idempotencyKeyOptions must be"},
		{"unknown keys are ignored", `{"runCount":2,"zzz":{"a":[1,2,{"b":null}]},"__proto__":{"admin":true},"constructor":1}`, false, 202, ""},
		// The documented limit is 2048 characters, whatever their size.
		{"idempotencyKey of 2048 random CJK characters (6 KB)", `{"runCount":1,"idempotencyKey":"` + hxRandomRunes(1, 2048, 0x4e00, 0x9fff) + `"}`, false, 202, ""},
		{"idempotencyKey of 2048 random emoji (8 KB)", `{"runCount":1,"idempotencyKey":"` + hxRandomRunes(2, 2048, 0x1f300, 0x1faff) + `"}`, false, 202, ""},
	}
	accepted := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			var rd = strings.NewReader(tc.body)
			edit := withKey(key, "application/json")
			var r reply
			if tc.chunked {
				r = send(t, boundedClient, http.MethodPost, s.URL+"/api/v3/batches", chunked(body), edit)
			} else {
				r = send(t, boundedClient, http.MethodPost, s.URL+"/api/v3/batches", rd, edit)
			}
			if r.StatusCode/100 == 2 {
				accepted++
			}
			if tc.status/100 == 2 {
				var out createResp
				if r.StatusCode != tc.status || json.Unmarshal(r.Body, &out) != nil || !batch.ValidBatchID(out.ID) {
					t.Errorf("%s: got %s, want %d", tc.name, r, tc.status)
				}
				return
			}
			hxWantError(t, tc.name, r, tc.status, tc.want)
		})
	}
	// No refused request left a batch behind.
	if n := s.hxBatchesOf(t, env); n != accepted {
		t.Errorf("STRAY: %d batches in the environment, %d requests were accepted", n, accepted)
	}
}

// PUT /api/v2/packets/<filename>: no filename reaches outside the caller's
// environment. Refused names get 400 (404 when they leave the route);
// accepted odd names land, once uploaded, inside packets/<env>/ and nowhere
// else.
func TestHostilePresign(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	other, _ := s.newKey(t)
	refused := []string{
		"..%2F..%2Fx", "a/../../b", "%2e%2e", "%2e%2e/%2e%2e/x", "%2E%2E%2Fx", "..", "../" + other + "/x",
		"/etc/passwd", "%2Fetc%2Fpasswd", "a%5Cb", "..%5C..%5Cx", "", ".", "a/./b", "a//b", "a/",
		strings.Repeat("n", 2048), "a%00b", "a%0Ab", "a%0D%0AX-Injected:%201", "a%09b", "a%7Fb",
		"x%3F..%2F..%2Fy", "%C0%AE%C0%AE/x", "%FF%FE",
		// Encoded dots a later decoder could resolve, and the batches' own
		// folders.
		"%252e%252e/x", "batch_abcdefghijklmnopqrstuvwx/item_0/payload.json",
	}
	for _, name := range refused {
		t.Run("refused "+cut(name, 40), func(t *testing.T) {
			r := send(t, noRedirectClient, http.MethodPut, s.URL+"/api/v2/packets/"+name, nil, withKey(key, ""))
			if r.StatusCode >= 500 {
				t.Fatalf("SERVER ERROR %s", r)
			}
			if r.StatusCode == 404 {
				hxWantError(t, name, r, 404, "Not found")
				return
			}
			hxWantError(t, name, r, 400, "Invalid packet filename")
		})
	}
	// Without the trailing slash the route is not matched as a filename.
	r := send(t, noRedirectClient, http.MethodPut, s.URL+"/api/v2/packets", nil, withKey(key, ""))
	t.Logf("PUT /api/v2/packets (no filename): %s %v", r, r.Header.Get("Location"))
	if r.StatusCode >= 500 || r.StatusCode == 200 {
		t.Errorf("PUT /api/v2/packets: %s", r)
	}
	if r := send(t, boundedClient, http.MethodGet, s.URL+"/api/v2/packets/x.json", nil, withKey(key, "")); r.StatusCode != 405 {
		t.Errorf("GET on the presign route: %s", r)
	}

	// Odd but harmless names: accepted, and confined to the environment.
	accepted := map[string]string{ // escaped path → filename
		"ok/" + url.PathEscape("名前 with space.json"): "ok/名前 with space.json",
		"packets/" + other + "/x.json":               "packets/" + other + "/x.json",
		url.PathEscape("．．") + "/x":                  "．．/x",
		"a%3Fb":                                      "a?b",
		"a%23b":                                      "a#b",
		"...":                                        "...",
		"-":                                          "-",
	}
	var want []string
	for path, filename := range accepted {
		var p wire.Packet
		r := send(t, boundedClient, http.MethodPut, s.URL+"/api/v2/packets/"+path, nil, withKey(key, ""))
		if r.StatusCode != 200 || json.Unmarshal(r.Body, &p) != nil || p.StoragePath != filename {
			t.Errorf("presign %q: %s", path, r)
			continue
		}
		u, err := url.Parse(p.PresignedURL)
		if err != nil {
			t.Fatal(err)
		}
		objectKey := strings.TrimPrefix(u.Path, "/"+s.bucket+"/")
		if objectKey != batch.PacketPrefix(env)+filename {
			t.Errorf("presign %q: URL key %q is not %q", path, objectKey, batch.PacketPrefix(env)+filename)
		}
		up := send(t, boundedClient, http.MethodPut, p.PresignedURL, strings.NewReader("abc"), nil)
		if up.StatusCode != 200 {
			t.Errorf("upload to %q: %s", filename, up)
			continue
		}
		want = append(want, batch.PacketPrefix(env)+filename)
	}
	got := s.hxPackets(t, env)
	if fmt.Sprint(hxSorted(got)) != fmt.Sprint(hxSorted(want)) {
		t.Errorf("objects of the environment: %q, want %q", got, want)
	}
	if keys := s.hxPackets(t, other); len(keys) != 0 {
		t.Errorf("uploads reached another environment: %q", keys)
	}
}

func hxSorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

// GET runs and GET missing: invalid limits and cursors are 400 with a
// message, never 500.
func TestHostileReadParameters(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	id := s.mustCreate(t, key, 3)
	if r := s.hxStream(t, key, id, ndjson(simpleItems(3))); r.StatusCode != 200 {
		t.Fatalf("stream: %s", r)
	}
	runs := "/api/v3/batches/" + id + "/runs?"
	missing := "/api/v3/batches/" + id + "/missing?"
	cases := []struct {
		path   string
		status int
		want   string
	}{
		{runs + "limit=0", 400, "limit must be an integer from 1 to 1000"},
		{runs + "limit=1001", 400, "limit must be an integer from 1 to 1000"},
		{runs + "limit=-1", 400, "limit must be an integer from 1 to 1000"},
		{runs + "limit=x", 400, "limit must be an integer from 1 to 1000"},
		{runs + "limit=1.5", 400, "limit must be an integer from 1 to 1000"},
		{runs + "limit=1e3", 400, "limit must be an integer from 1 to 1000"},
		{runs + "limit=%205", 400, "limit must be an integer from 1 to 1000"},
		{runs + "limit=%00", 400, "limit must be an integer from 1 to 1000"},
		{runs + "limit=99999999999999999999", 400, "limit must be an integer from 1 to 1000"},
		{runs + "cursor=-5", 400, "cursor is invalid"},
		{runs + "cursor=abc", 400, "cursor is invalid"},
		{runs + "cursor=1e9", 400, "cursor is invalid"},
		{runs + "cursor=1.5", 400, "cursor is invalid"},
		{runs + "cursor=99999999999999999999", 400, "cursor is invalid"},
		{runs + "cursor=1'%20OR%20'1'='1", 400, "cursor is invalid"},
		// Valid integers beyond the batch: an empty page (or 400), not 500.
		{runs + "cursor=1000000000", 200, ""},
		{runs + "cursor=2147483647", 200, ""},
		{runs + "cursor=2147483648", 200, ""},
		{runs + "cursor=9223372036854775807", 200, ""},
		{runs + "limit=1000&limit=0", 200, ""},
		{missing + "limit=0", 400, "limit must be an integer from 1 to 10000"},
		{missing + "limit=10001", 400, "limit must be an integer from 1 to 10000"},
		{missing + "limit=x", 400, "limit must be an integer from 1 to 10000"},
		{missing + "limit=-1", 400, "limit must be an integer from 1 to 10000"},
	}
	for _, tc := range cases {
		t.Run(strings.TrimPrefix(strings.TrimPrefix(tc.path, runs), missing), func(t *testing.T) {
			r := send(t, boundedClient, http.MethodGet, s.URL+tc.path, nil, withKey(key, ""))
			if tc.status == 200 {
				if r.StatusCode == 200 || (r.StatusCode == 400 && r.Msg != "") {
					return
				}
				t.Errorf("GET %s: %s, want an empty page (or 400)", tc.path, r)
				return
			}
			hxWantError(t, tc.path, r, tc.status, tc.want)
		})
	}
}
