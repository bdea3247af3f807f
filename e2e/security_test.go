package e2e

// Tenant security: authentication on every endpoint, isolation between
// environments on every endpoint, API keys stored as hashes, the scope and
// lifetime of x-trigger-jwt, and no secret or payload in the logs.
//
// Run: go test ./e2e -count=1 -run 'TestHostile|TestSecurity' -v

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/app"
	"github.com/streambatch/streambatch/wire"
)

// secEndpoint is one authenticated endpoint, against a batch id.
type secEndpoint struct {
	name, method, path, ct, body string
}

func secEndpoints(id string) []secEndpoint {
	return []secEndpoint{
		{"POST /api/v3/batches", http.MethodPost, "/api/v3/batches", "application/json", `{"runCount":1}`},
		{"POST items", http.MethodPost, "/api/v3/batches/" + id + "/items", "application/x-ndjson", `{"index":0,"task":"t"}` + "\n"},
		{"GET batch", http.MethodGet, "/api/v3/batches/" + id, "", ""},
		{"GET runs", http.MethodGet, "/api/v3/batches/" + id + "/runs", "", ""},
		{"GET missing", http.MethodGet, "/api/v3/batches/" + id + "/missing", "", ""},
		{"POST abort", http.MethodPost, "/api/v3/batches/" + id + "/abort", "application/json", `{"reason":"x"}`},
		{"PUT packets", http.MethodPut, "/api/v2/packets/x.json", "", ""},
		{"POST replay", http.MethodPost, "/api/v3/batches/" + id + "/replay", "", ""},
		{"POST run cancel", http.MethodPost, "/api/v3/runs/" + batch.RunID(id, 0) + "/cancel", "", ""},
		{"GET v1 batch", http.MethodGet, "/api/v1/batches/" + id, "", ""},
		{"GET v2 batch", http.MethodGet, "/api/v2/batches/" + id, "", ""},
		{"GET results", http.MethodGet, "/api/v1/batches/" + id + "/results", "", ""},
		{"GET v3 run", http.MethodGet, "/api/v3/runs/" + batch.RunID(id, 0), "", ""},
		{"GET v1 runs", http.MethodGet, "/api/v1/runs?filter[batch]=" + id, "", ""},
		{"POST v2 run cancel", http.MethodPost, "/api/v2/runs/" + batch.RunID(id, 0) + "/cancel", "", ""},
		{"GET v1 run result", http.MethodGet, "/api/v1/runs/" + batch.RunID(id, 0) + "/result", "", ""},
		{"POST v1 run replay", http.MethodPost, "/api/v1/runs/" + batch.RunID(id, 0) + "/replay", "", ""},
		{"POST v1 run reschedule", http.MethodPost, "/api/v1/runs/" + batch.RunID(id, 0) + "/reschedule", "application/json", `{"delay":"1h"}`},
		{"POST v1 run tags", http.MethodPost, "/api/v1/runs/" + batch.RunID(id, 0) + "/tags", "application/json", `{"tags":"x"}`},
		{"GET v1 run metadata", http.MethodGet, "/api/v1/runs/" + batch.RunID(id, 0) + "/metadata", "", ""},
		{"PUT v1 run metadata", http.MethodPut, "/api/v1/runs/" + batch.RunID(id, 0) + "/metadata", "application/json", `{"metadata":{}}`},
		{"POST jwt claims", http.MethodPost, "/api/v1/auth/jwt/claims", "", ""},
		{"GET realtime batch", http.MethodGet, "/realtime/v1/batches/" + id + "?offset=-1", "", ""},
		{"GET realtime run", http.MethodGet, "/realtime/v1/runs/" + batch.RunID(id, 0) + "?offset=-1", "", ""},
		{"GET realtime tags", http.MethodGet, "/realtime/v1/runs?tags=x&offset=-1", "", ""},
	}
}

// tokenGrants is what the batch's own x-trigger-jwt (read:batch:<id>) may
// do on each endpoint: 0 means refused like a missing key (401).
var tokenGrants = map[string]int{
	"GET batch": 200, "GET runs": 200, "GET missing": 200, "GET v1 batch": 200, "GET v2 batch": 200,
	"GET results": 200, "GET v3 run": 404, "GET v1 runs": 200, "GET v1 run result": 404,
	"POST items":  403, // read scope only: streaming needs write:batch:<id>
	"PUT packets": 403, // uploading too (and only for that batch)
	// creating a batch needs a trigger scope (batchTrigger:tasks:<task>)
	"POST /api/v3/batches": 403,
	// realtime: the batch and its runs; tags need read:tags:<tag>
	"GET realtime batch": 200, "GET realtime run": 404, "GET realtime tags": 403,
}

func (s *stack) secCall(t *testing.T, e secEndpoint, authorization *string) reply {
	t.Helper()
	var body io.Reader
	if e.body != "" {
		body = strings.NewReader(e.body)
	}
	return send(t, boundedClient, e.method, s.URL+e.path, body, func(r *http.Request) {
		if authorization != nil {
			r.Header["Authorization"] = []string{*authorization}
		}
		if e.ct != "" {
			r.Header.Set("Content-Type", e.ct)
		}
	})
}

// Every endpoint except /healthz, /readyz and /metrics refuses a missing,
// malformed or wrong key with 401 {"error": ...}, and the refused requests
// change nothing.
func TestSecurityAuthenticationOnEveryEndpoint(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	resp, created := s.createBatch(t, key, map[string]any{"runCount": 3})
	if resp.StatusCode != 202 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	id := created.ID
	token := resp.Header.Get("x-trigger-jwt")
	hash := sha256.Sum256([]byte(key))
	str := func(s string) *string { return &s }
	variants := []struct {
		name string
		auth *string
	}{
		{"missing", nil},
		{"empty header", str("")},
		{"key without Bearer", str(key)},
		{"Basic", str("Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+key)))},
		{"Token scheme", str("Token " + key)},
		{"Bearer alone", str("Bearer")},
		{"Bearer and a space", str("Bearer ")},
		{"Bearer and spaces", str("Bearer      ")},
		{"Bearer, a key with spaces", str("Bearer sb_abc def ghi")},
		{"Bearer, the key and another word", str("Bearer " + key + " extra")},
		{"Bearer twice", str("Bearer Bearer " + key)},
		{"Bearer, 10 KB key", str("Bearer sb_" + strings.Repeat("k", 10<<10))},
		{"Bearer, 513-byte key", str("Bearer " + key + strings.Repeat("k", 513-len(key)))},
		{"Bearer, wrong key", str("Bearer sb_" + strings.Repeat("W", 40))},
		{"Bearer, key minus its last character", str("Bearer " + key[:len(key)-1])},
		{"Bearer, key plus a character", str("Bearer " + key + "x")},
		{"Bearer, key in upper case", str("Bearer " + strings.ToUpper(key))},
		{"Bearer, the key's stored SHA-256 (hex)", str("Bearer " + hex.EncodeToString(hash[:]))},
		{"Bearer, the key's stored prefix", str("Bearer " + key[:8])},
		{"Bearer, SQL", str("Bearer ' OR '1'='1")},
		{"Bearer, non-ASCII", str("Bearer sb_ключ")},
	}
	for _, e := range secEndpoints(id) {
		for _, v := range variants {
			t.Run(e.name+"/"+v.name, func(t *testing.T) {
				r := s.secCall(t, e, v.auth)
				hxWantError(t, e.name+" with "+v.name, r, 401, "API key")
			})
		}
		// The batch's public access token reads the batch and its runs
		// (run 0 does not exist yet: 404) and nothing else.
		t.Run(e.name+"/the batch's x-trigger-jwt", func(t *testing.T) {
			r := s.secCall(t, e, str("Bearer "+token))
			switch want := tokenGrants[e.name]; want {
			case 0:
				hxWantError(t, e.name+" with the token", r, 401, "API key")
			case 200:
				if r.StatusCode != 200 {
					t.Errorf("%s with the token: %s", e.name, r)
				}
			default:
				if r.StatusCode != want {
					t.Errorf("%s with the token: %s, want %d", e.name, r, want)
				}
			}
		})
	}
	// Lenient but not unsafe: a valid key with extra spaces around it
	// authenticates (the server trims them).
	for _, a := range []string{"Bearer  " + key, "Bearer " + key + "  "} {
		r := s.secCall(t, secEndpoints(id)[2], &a)
		t.Logf("%q: %d", strings.Replace(a, key, "<key>", 1), r.StatusCode)
	}
	// /healthz, /readyz and /metrics answer without a key; none of them
	// tells a stranger about tenants (environment names, batch ids, keys).
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		r := send(t, boundedClient, http.MethodGet, s.URL+p, nil, nil)
		if r.StatusCode != 200 {
			t.Errorf("%s without a key: %s", p, r)
		}
		for _, secret := range []string{env, id, key} {
			if bytes.Contains(r.Body, []byte(secret)) {
				t.Errorf("%s (no key needed) shows %q", p, secret)
			}
		}
	}
	// Nothing changed: one batch, PENDING, no run, no object.
	if b := s.batchStatus(t, key, id); b.Status != "PENDING" || b.EnqueuedCount != 0 {
		t.Errorf("batch after refused requests: %+v", b)
	}
	if n := s.hxAccepted(t, key, id); n != 0 {
		t.Errorf("the workflow accepted %d items from refused requests", n)
	}
	if n := s.hxBatchesOf(t, env); n != 1 {
		t.Errorf("%d batches after refused creates", n)
	}
	if keys := s.hxPackets(t, env); len(keys) != 0 {
		t.Errorf("objects: %v", keys)
	}
}

// With environment A's key, environment B's batch is "not found" on every
// endpoint, answered exactly like a batch that does not exist, and B's
// batch is untouched.
func TestSecurityEnvironmentIsolation(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	envA, keyA := s.newKey(t)
	envB, keyB := s.newKey(t)
	respB, createdB := s.createBatch(t, keyB, map[string]any{"runCount": 3, "idempotencyKey": "shared-key"})
	if respB.StatusCode != 202 {
		t.Fatalf("create B: %d", respB.StatusCode)
	}
	idB := createdB.ID
	if r := s.hxStream(t, keyB, idB, []byte(`{"index":0,"task":"b-task","payload":"B-SECRET"}`+"\n")); r.StatusCode != 200 {
		t.Fatalf("stream B: %s", r)
	}
	waitRuns(t, s, idB, 1)
	absent := "batch_" + strings.Repeat("z", 24)
	want := map[string]int{"POST items": 422, "GET batch": 404, "GET runs": 404, "GET missing": 404, "POST abort": 404,
		"GET realtime batch": 404, "GET realtime run": 404}
	foreign := secEndpoints(idB)
	missing := secEndpoints(absent)
	for k, e := range foreign {
		status, ok := want[e.name]
		if !ok {
			continue
		}
		t.Run(e.name, func(t *testing.T) {
			r := s.secCall(t, e, &[]string{"Bearer " + keyA}[0])
			hxWantError(t, e.name+" of B with A's key", r, status, "not found")
			// Indistinguishable from a batch that does not exist.
			other := s.secCall(t, missing[k], &[]string{"Bearer " + keyA}[0])
			// A run id holds its batch id without the "batch_" prefix.
			norm := func(body []byte, id string) string {
				return strings.ReplaceAll(strings.ReplaceAll(string(body), id, "ID"), strings.TrimPrefix(id, "batch_"), "ID")
			}
			if norm(r.Body, idB) != norm(other.Body, absent) || r.StatusCode != other.StatusCode {
				t.Errorf("foreign %s and absent %s answer differently", r, other)
			}
			if bytes.Contains(r.Body, []byte(envB)) || bytes.Contains(r.Body, []byte("B-SECRET")) {
				t.Errorf("the answer leaks B: %s", r)
			}
		})
	}
	t.Run("B's batch is untouched", func(t *testing.T) {
		// B's batch is untouched: PENDING, its one run QUEUED, nothing more
		// accepted.
		if b := s.batchStatus(t, keyB, idB); b.Status != "PENDING" || b.EnqueuedCount != 1 || b.Sealed {
			t.Errorf("B after A's requests: %+v", b)
		}
		if n := s.hxAccepted(t, keyB, idB); n != 1 {
			t.Errorf("B's workflow holds %d items, want 1", n)
		}
		if runs := s.runs(t, keyB, idB); len(runs) != 1 || runs[0].Status != "QUEUED" || *runs[0].Payload != "B-SECRET" {
			t.Errorf("B's runs: %+v", runs)
		}
	})
	t.Run("the same idempotency key in A makes A's own batch", func(t *testing.T) {
		if resp, out := s.createBatch(t, keyA, map[string]any{"runCount": 3, "idempotencyKey": "shared-key"}); resp.StatusCode != 202 || out.ID == idB || out.IsCached {
			t.Errorf("A with B's idempotency key: %d %+v", resp.StatusCode, out)
		}
	})
	t.Run("presigning with A's key stays under A's packets", func(t *testing.T) {
		// Presign with A's key: only keys under packets/<A>/.
		for _, name := range []string{"x.json", "packets/" + envB + "/x.json", envB + "/x.json", "..%2F" + envB + "%2Fx.json", "../" + envB + "/x.json"} {
			r := send(t, noRedirectClient, http.MethodPut, s.URL+"/api/v2/packets/"+name, nil, withKey(keyA, ""))
			if r.StatusCode == 400 {
				continue
			}
			var p wire.Packet
			u, err := url.Parse(func() string { json.Unmarshal(r.Body, &p); return p.PresignedURL }())
			if r.StatusCode != 200 || err != nil {
				t.Errorf("presign %q: %s", name, r)
				continue
			}
			if k := strings.TrimPrefix(u.Path, "/"+s.bucket+"/"); !strings.HasPrefix(k, batch.PacketPrefix(envA)) {
				t.Errorf("presign %q with A's key gives %q, outside %s", name, k, batch.PacketPrefix(envA))
			}
		}
	})
	t.Run("A's store items never reference B's objects", func(t *testing.T) {
		// application/store items in A never reference B's objects.
		secretKey := batch.PacketPrefix(envB) + "secret.json"
		if err := s.app.Blob.Put(context.Background(), secretKey, "application/json", strings.NewReader(`"B's secret"`), 12); err != nil {
			t.Fatal(err)
		}
		store := func(index int, path string) string {
			line, _ := json.Marshal(item{Index: index, Task: "ref", Payload: path, Options: map[string]any{"payloadType": "application/store"}})
			return string(line) + "\n"
		}
		for _, path := range []string{"../" + envB + "/secret.json", "../../" + secretKey, "/" + secretKey, `..\` + envB + `\secret.json`,
			"./../" + envB + "/secret.json", "a/../../" + envB + "/secret.json", "x/../../" + envB + "/secret.json",
			"%2e%2e/" + envB + "/secret.json", "batch_abcdefghijklmnopqrstuvwx/item_0/payload.json"} {
			id := s.mustCreate(t, keyA, 1)
			r := s.hxStream(t, keyA, id, []byte(store(0, path)))
			hxWantError(t, "store path "+path, r, 422, "application/store")
		}
		odd := []string{secretKey, "．．/" + envB + "/secret.json", envB + "/secret.json", "secret.json", "...", "..../" + envB}
		id := s.mustCreate(t, keyA, len(odd))
		var body strings.Builder
		for k, p := range odd {
			body.WriteString(store(k, p))
		}
		if r := s.hxStream(t, keyA, id, []byte(body.String())); r.StatusCode != 200 {
			t.Fatalf("odd store paths: %s", r)
		}
		for _, run := range s.runs(t, keyA, id) {
			if run.Payload == nil || !strings.HasPrefix(*run.Payload, batch.PacketPrefix(envA)) || *run.Payload == secretKey {
				t.Errorf("run %d of A references %v, outside %s", run.Index, run.Payload, batch.PacketPrefix(envA))
			}
		}
		if got, err := s.app.Blob.Get(context.Background(), secretKey, 1<<10); err != nil || string(got) != `"B's secret"` {
			t.Errorf("B's object: %q %v", got, err)
		}
	})
}

// API keys are stored only as SHA-256 hashes: no column of any row holds
// the key text.
func TestSecurityKeysStoredAsHashes(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	id := s.mustCreate(t, key, 1) // so batches and runs have rows of this env
	s.hxStream(t, key, id, ndjson(simpleItems(1)))
	ctx := context.Background()
	db := s.hxDB(t)
	for _, table := range []string{"api_keys", "environments", "batches", "runs"} {
		for _, needle := range []string{key, key[3:], hex.EncodeToString([]byte(key)), base64.StdEncoding.EncodeToString([]byte(key))} {
			var n int
			if err := db.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s t WHERE strpos(row_to_json(t)::text, $1) > 0`, table), needle).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d rows of %s contain the key (as %q…)", n, table, needle[:6])
			}
		}
	}
	sum := sha256.Sum256([]byte(key))
	var stored []byte
	var prefix, envName string
	err := db.QueryRow(ctx, `SELECT k.key_hash, k.key_prefix, e.name FROM api_keys k JOIN environments e ON e.id = k.environment_id WHERE k.key_hash = $1`, sum[:]).
		Scan(&stored, &prefix, &envName)
	if err != nil {
		t.Fatalf("no api_keys row has sha256(key): %v", err)
	}
	if !bytes.Equal(stored, sum[:]) || envName != env || prefix != key[:8] {
		t.Errorf("row: hash %x prefix %q env %q", stored, prefix, envName)
	}
	var longest int
	if err := db.QueryRow(ctx, `SELECT coalesce(max(length(key_prefix)), 0) FROM api_keys`).Scan(&longest); err != nil || longest > 8 {
		t.Errorf("a stored key prefix has %d characters (%v)", longest, err)
	}
	t.Logf("api_keys keeps sha256(key) and the first 8 characters (%q: \"sb_\" + 5 of 40 random characters)", key[:3]+"…")
}

// x-trigger-jwt: HS256 with the configured secret, scope read:batch:<id>
// exactly, expiring one hour after issue (not later); another secret does
// not verify it; it is no API key.
func TestSecurityBatchToken(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	e, err := s.app.Store.EnsureEnvironment(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	resp, created := s.createBatch(t, key, map[string]any{"runCount": 1, "idempotencyKey": "tok"})
	if resp.StatusCode != 202 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	check := func(what, raw, id string) {
		t.Helper()
		tok, err := jwt.Parse(raw, func(tok *jwt.Token) (any, error) { return []byte(s.cfg.JWTSecret), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if tok.Header["alg"] != "HS256" {
			t.Errorf("%s: alg %v", what, tok.Header["alg"])
		}
		c := tok.Claims.(jwt.MapClaims)
		scopes, _ := c["scopes"].([]any)
		if len(scopes) != 1 || scopes[0] != "read:batch:"+id {
			t.Errorf("%s: scopes %v, want exactly [read:batch:%s]", what, c["scopes"], id)
		}
		exp, _ := c.GetExpirationTime()
		iat, _ := c.GetIssuedAt()
		if exp == nil || iat == nil || exp.Sub(iat.Time) != time.Hour {
			t.Errorf("%s: iat %v exp %v, want exp = iat + 1h", what, iat, exp)
		} else if exp.After(time.Now().Add(time.Hour+time.Second)) || exp.Before(before.Add(time.Hour-2*time.Second)) {
			t.Errorf("%s: exp %v is not one hour from now", what, exp.Time)
		}
		if sub, _ := c["sub"].(string); sub != strconv.FormatInt(e.ID, 10) {
			t.Errorf("%s: sub %v, want the environment id %d", what, c["sub"], e.ID)
		}
		if c["pub"] != true || c["iss"] != "streambatch" {
			t.Errorf("%s: claims %v", what, c)
		}
		// Another secret does not verify it.
		_, err = jwt.Parse(raw, func(*jwt.Token) (any, error) { return []byte("another-secret-another-secret-another"), nil },
			jwt.WithValidMethods([]string{"HS256"}))
		if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			t.Errorf("%s: verified with another secret: %v", what, err)
		}
		// Re-signed with "none": a verifier pinned to HS256 refuses it.
		parts := strings.Split(raw, ".")
		none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
		if _, err := jwt.Parse(none, func(*jwt.Token) (any, error) { return []byte(s.cfg.JWTSecret), nil }, jwt.WithValidMethods([]string{"HS256"})); err == nil {
			t.Errorf("%s: an alg=none copy verifies", what)
		}
	}
	check("new batch", resp.Header.Get("x-trigger-jwt"), created.ID)
	// The cached answer carries a fresh token for the same batch only.
	resp2, again := s.createBatch(t, key, map[string]any{"runCount": 1, "idempotencyKey": "tok"})
	if resp2.StatusCode != 200 || again.ID != created.ID {
		t.Fatalf("cached: %d %+v", resp2.StatusCode, again)
	}
	check("cached batch", resp2.Header.Get("x-trigger-jwt"), created.ID)
	// The token reads its batch, not another one, and is not an API key.
	tok := resp.Header.Get("x-trigger-jwt")
	if r := send(t, boundedClient, http.MethodGet, s.URL+"/api/v3/batches/"+created.ID, nil, withKey(tok, "")); r.StatusCode != 200 {
		t.Errorf("the token reading its batch: %s", r)
	}
	other := s.mustCreate(t, key, 1)
	if r := send(t, boundedClient, http.MethodGet, s.URL+"/api/v3/batches/"+other, nil, withKey(tok, "")); r.StatusCode != 403 {
		t.Errorf("the token reading another batch: %s", r)
	}
	if r := send(t, boundedClient, http.MethodPost, s.URL+"/api/v3/batches", strings.NewReader(`{"runCount":1}`), withKey(tok, "application/json")); r.StatusCode != 403 {
		t.Errorf("the token creating a batch: %s", r)
	}
}

// secBuf is a goroutine-safe log buffer.
type secBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *secBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *secBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Secrets and payloads never reach the logs (JSON, debug level), which
// carry the batch id and a request_id; forged log lines cannot be injected.
func TestSecurityNothingSecretInLogs(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	var buf secBuf
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := &app.App{Config: s.cfg, Log: logger, Store: s.app.Store, Blob: s.app.Blob, Temporal: s.app.Temporal}
	ls := s.withApp(t, a)
	_, key := s.newKey(t)
	marker := "TOPSECRET-PAYLOAD-" + batch.NewStreamID()
	wrongKey := "sb_WRONG" + batch.NewStreamID() + strings.Repeat("w", 30)

	resp, created := ls.createBatch(t, key, map[string]any{"runCount": 3})
	if resp.StatusCode != 202 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	id, token := created.ID, resp.Header.Get("x-trigger-jwt")
	items := []item{
		{Index: 0, Task: "t", Payload: marker},
		{Index: 1, Task: "t", Payload: marker + randomText(9, s.cfg.OffloadThreshold)}, // offloaded
		{Index: 2, Task: "t", Payload: map[string]any{"m": marker}, Options: map[string]any{"metadata": map[string]any{"m": marker}, "tags": []string{marker[:20]}}},
	}
	if r := ls.hxStream(t, key, id, ndjson(items)); r.StatusCode != 200 || !strings.Contains(string(r.Body), `"sealed":true`) {
		t.Fatalf("stream: %s", r)
	}
	// Failures: a wrong key, a bad line carrying the marker, an item out
	// of range, a server error (cursor beyond int4, see the hostile tests).
	if r := send(t, boundedClient, http.MethodGet, ls.api.URL+"/api/v3/batches/"+id, nil, withKey(wrongKey, "")); r.StatusCode != 401 {
		t.Errorf("wrong key: %s", r)
	}
	id2 := ls.mustCreate(t, key, 1)
	ls.hxStream(t, key, id2, []byte(`{"index":0,"task":"t","payload":"`+marker+`"`+"\n"))
	ls.hxStream(t, key, id2, []byte(`{"index":9,"task":"t","payload":"`+marker+`"}`+"\n"))
	send(t, boundedClient, http.MethodGet, ls.api.URL+"/api/v3/batches/"+id+"/runs?cursor=2147483648", nil, withKey(key, ""))
	// Log injection attempts through the path and X-Request-Id.
	forged := url.PathEscape("batch_\n{\"level\":\"ERROR\",\"msg\":\"forged\"}")
	send(t, boundedClient, http.MethodGet, ls.api.URL+"/api/v3/batches/"+forged, nil, withKey(key, ""))
	send(t, boundedClient, http.MethodGet, ls.api.URL+"/api/v3/batches/"+id, nil, func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("X-Request-Id", `x","msg":"forged","level":"ERROR`)
	})

	logs := buf.String()
	for name, secret := range map[string]string{"payload marker": marker, "API key": key, "wrong API key": wrongKey,
		"JWT secret": s.cfg.JWTSecret, "x-trigger-jwt": token, "API key without prefix": key[3:], "S3 secret key": s.cfg.S3SecretAccessKey} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
	if !strings.Contains(logs, id) || !strings.Contains(logs, `"request_id":`) {
		t.Errorf("the logs lack the batch id or request_id")
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("a log line is not JSON (injection?): %q", cut(l, 200))
			continue
		}
		if rec["msg"] == "forged" {
			t.Errorf("a forged log record: %q", l)
		}
	}
	t.Logf("%d log records checked", len(lines))
}

// sdkToken signs a token as the trigger.dev SDK does (generateJWT: HS256
// with the API key as the secret, its issuer and audience).
func sdkToken(t *testing.T, key string, claims jwt.MapClaims, method jwt.SigningMethod) string {
	t.Helper()
	c := jwt.MapClaims{"iss": "https://id.trigger.dev", "aud": "https://api.trigger.dev", "pub": true,
		"iat": time.Now().Unix(), "exp": time.Now().Add(15 * time.Minute).Unix()}
	maps.Copy(c, claims)
	signed, err := jwt.NewWithClaims(method, c).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// Public access tokens as credentials: the batch's x-trigger-jwt and tokens
// the SDK signs with the API key read what their scopes name; a token
// signed with another environment's key, an expired one, one signed with
// another algorithm and every token of a revoked key are refused.
func TestSecurityPublicTokens(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	ctx := context.Background()
	envName, key := s.newKey(t)
	_, otherKey := s.newKey(t)
	env, err := s.app.Store.EnsureEnvironment(ctx, envName)
	if err != nil {
		t.Fatal(err)
	}
	sub := strconv.FormatInt(env.ID, 10)
	resp, created := s.createBatch(t, key, map[string]any{"runCount": 2})
	if resp.StatusCode != 202 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	id := created.ID
	own := resp.Header.Get("x-trigger-jwt")
	read := jwt.MapClaims{"sub": sub, "scopes": []string{"read:batch:" + id}}
	get := func(token string) int {
		return send(t, boundedClient, http.MethodGet, s.URL+"/api/v2/batches/"+id, nil, withKey(token, "")).StatusCode
	}
	cases := []struct {
		name  string
		token string
		want  int
	}{
		{"x-trigger-jwt", own, 200},
		{"SDK-signed with the key", sdkToken(t, key, read, jwt.SigningMethodHS256), 200},
		{"SDK-signed, read:runs", sdkToken(t, key, jwt.MapClaims{"sub": sub, "scopes": []string{"read:runs"}}, jwt.SigningMethodHS256), 200},
		{"SDK-signed, another batch's scope", sdkToken(t, key, jwt.MapClaims{"sub": sub, "scopes": []string{"read:batch:batch_x"}}, jwt.SigningMethodHS256), 403},
		{"SDK-signed, no scopes", sdkToken(t, key, jwt.MapClaims{"sub": sub}, jwt.SigningMethodHS256), 403},
		{"signed with another environment's key, claiming this one", sdkToken(t, otherKey, read, jwt.SigningMethodHS256), 401},
		{"signed with the key, HS512", sdkToken(t, key, read, jwt.SigningMethodHS512), 401},
		{"expired", sdkToken(t, key, jwt.MapClaims{"sub": sub, "scopes": []string{"read:batch:" + id}, "exp": time.Now().Add(-time.Minute).Unix()}, jwt.SigningMethodHS256), 401},
		{"no expiry", sdkToken(t, key, jwt.MapClaims{"sub": sub, "scopes": []string{"read:batch:" + id}, "exp": nil}, jwt.SigningMethodHS256), 401},
		{"wrong audience", sdkToken(t, key, jwt.MapClaims{"sub": sub, "scopes": []string{"read:batch:" + id}, "aud": "https://evil"}, jwt.SigningMethodHS256), 401},
		{"sub not a number", sdkToken(t, key, jwt.MapClaims{"sub": "x", "scopes": []string{"read:batch:" + id}}, jwt.SigningMethodHS256), 401},
		{"alg none", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + strings.Split(own, ".")[1] + ".", 401},
	}
	for _, c := range cases {
		if got := get(c.token); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// Revoking the key ends the key and every token of it.
	keys, err := s.app.Store.ListAPIKeys(ctx, envName)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %+v %v", keys, err)
	}
	if err := s.app.Store.RevokeAPIKey(ctx, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases[:2] {
		if got := get(c.token); got != 401 {
			t.Errorf("%s after the key was revoked: %d", c.name, got)
		}
	}
	if got := get(key); got != 401 {
		t.Errorf("the revoked key itself: %d", got)
	}
}
