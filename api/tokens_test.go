package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/ingest"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
)

// The tokens the trigger.dev SDK signs itself with an API key
// (auth.createTriggerPublicToken, createBatchTriggerPublicToken,
// createPublicToken): what each scope grants and what it does not.

// sdkToken signs a token as @trigger.dev/core's generateJWT does: env's
// claims, scopes and otu, signed with secret, expiring after ttl.
func sdkToken(t *testing.T, env store.Environment, secret string, otu bool, ttl time.Duration, scopes ...string) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": issuerTriggerDev, "aud": audienceTriggerDev, "sub": strconv.FormatInt(env.ID, 10), "pub": true,
		"scopes": scopes, "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
	if otu {
		claims["otu"] = true
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// createWith creates a batch of tasks with tok.
func createWith(f *handlerFixture, tok string, tasks ...string) answer {
	body, _ := json.Marshal(wire.CreateBatchRequest{RunCount: 1, TaskIdentifiers: tasks})
	return f.do(http.MethodPost, "/api/v3/batches", tok, "application/json", string(body))
}

// batchTokenClaims decodes the x-trigger-jwt of a create's answer.
func batchTokenClaims(t *testing.T, a answer) tokenClaims {
	t.Helper()
	var claims tokenClaims
	if _, err := jwt.ParseWithClaims(a.header.Get("x-trigger-jwt"), &claims, func(*jwt.Token) (any, error) { return []byte(testSecret), nil }); err != nil {
		t.Fatalf("x-trigger-jwt: %v", err)
	}
	return claims
}

func TestTriggerTokenCreatesBatchesOfItsTasks(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	for _, scope := range []string{"batchTrigger:tasks:a", "trigger:tasks:a", "write:tasks:a", "batchTrigger:tasks"} {
		t.Run(scope, func(t *testing.T) {
			a := createWith(f, sdkToken(t, testEnv, testKeySecret, false, time.Hour, scope), "a")
			if a.status != http.StatusAccepted {
				t.Fatalf("answer %d %s, want 202", a.status, a.body)
			}
			var resp wire.CreateBatchResponse
			_ = json.Unmarshal([]byte(a.body), &resp)
			claims := batchTokenClaims(t, a)
			if !slices.Contains(claims.Scopes, "write:batch:"+resp.ID) || !slices.Equal(claims.Tasks, []string{"a"}) || claims.KeyID != testKeyID {
				t.Fatalf("batch token claims %+v, want write:batch:%s for task a, key %d", claims, resp.ID, testKeyID)
			}
		})
	}
}

func TestTriggerTokenRefusals(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	trigger := func(t *testing.T) string {
		return sdkToken(t, testEnv, testKeySecret, false, time.Hour, "batchTrigger:tasks:a")
	}
	t.Run("another task", func(t *testing.T) {
		wantRefused(t, createWith(f, trigger(t), "a", "b"), http.StatusForbidden, `does not grant triggering task "b"`)
	})
	t.Run("no taskIdentifiers", func(t *testing.T) {
		wantRefused(t, createWith(f, trigger(t)), http.StatusForbidden, "list the batch's tasks in taskIdentifiers")
	})
	t.Run("a parentRunId", func(t *testing.T) {
		a := f.do(http.MethodPost, "/api/v3/batches", trigger(t), "application/json", `{"runCount":1,"taskIdentifiers":["a"],"parentRunId":"wf"}`)
		wantRefused(t, a, http.StatusForbidden, "cannot set parentRunId")
	})
	t.Run("a read token", func(t *testing.T) {
		wantRefused(t, createWith(f, sdkToken(t, testEnv, testKeySecret, false, time.Hour, "read:runs"), "a"), http.StatusForbidden, "does not grant triggering tasks")
	})
	t.Run("expired", func(t *testing.T) {
		tok := sdkToken(t, testEnv, testKeySecret, false, -time.Minute, "batchTrigger:tasks:a")
		wantRefused(t, createWith(f, tok, "a"), http.StatusUnauthorized, "Invalid public access token")
	})
	t.Run("signed by another environment's key", func(t *testing.T) {
		tok := sdkToken(t, testEnv, otherKeySecret, false, time.Hour, "batchTrigger:tasks:a")
		wantRefused(t, createWith(f, tok, "a"), http.StatusUnauthorized, "Invalid public access token")
	})
}

func TestOneTimeTriggerToken(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	t.Run("a second use is refused", func(t *testing.T) {
		tok := sdkToken(t, testEnv, testKeySecret, true, time.Hour, "batchTrigger:tasks:a")
		if a := createWith(f, tok, "a"); a.status != http.StatusAccepted {
			t.Fatalf("first use: answer %d %s", a.status, a.body)
		}
		wantRefused(t, createWith(f, tok, "a"), http.StatusUnauthorized, "already used")
	})
	// (Tokens of the same claims signed in the same second are the same
	// token: each subtest names its own task.)
	t.Run("a refused creation does not use it", func(t *testing.T) {
		tok := sdkToken(t, testEnv, testKeySecret, true, time.Hour, "batchTrigger:tasks:c")
		wantRefused(t, createWith(f, tok, "b"), http.StatusForbidden, `task "b"`)
		if a := createWith(f, tok, "c"); a.status != http.StatusAccepted {
			t.Fatalf("use after a refusal: answer %d %s", a.status, a.body)
		}
	})
	t.Run("a multiple-use token creates many", func(t *testing.T) {
		tok := sdkToken(t, testEnv, testKeySecret, false, time.Hour, "batchTrigger:tasks:a")
		for i := range 2 {
			if a := createWith(f, tok, "a"); a.status != http.StatusAccepted {
				t.Fatalf("use %d: answer %d %s", i+1, a.status, a.body)
			}
		}
	})
}

// The batch token a trigger token's create answers, and the trigger token
// itself, stream items of the batch's tasks only (the ingester refuses the
// others); the trigger token streams only the batches it created.
func TestTriggerTokenBatchStreamsItsTasks(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	f.ingester.res = ingest.Result{Items: 1, Accepted: 1}
	trigger := sdkToken(t, testEnv, testKeySecret, false, time.Hour, "batchTrigger:tasks:a")
	a := createWith(f, trigger, "a")
	var resp wire.CreateBatchResponse
	if a.status != http.StatusAccepted || json.Unmarshal([]byte(a.body), &resp) != nil {
		t.Fatalf("create: answer %d %s", a.status, a.body)
	}
	stream := func(tok, id string) answer {
		f.ingester.tasks = nil
		return f.do(http.MethodPost, "/api/v3/batches/"+id+"/items", tok, ndjsonCT, `{"index":0,"task":"a"}`+"\n")
	}
	for name, tok := range map[string]string{"the batch token": a.header.Get("x-trigger-jwt"), "the trigger token": trigger} {
		t.Run(name, func(t *testing.T) {
			if a := stream(tok, resp.ID); a.status != http.StatusOK || !slices.Equal(f.ingester.tasks, []string{"a"}) {
				t.Fatalf("answer %d %s, tasks %v; want 200 and tasks [a]", a.status, a.body, f.ingester.tasks)
			}
		})
	}
	t.Run("the trigger token on a batch it did not create", func(t *testing.T) {
		wantRefused(t, stream(trigger, f.store.add(testEnv, 1, batch.StatusPending)), http.StatusForbidden, "does not grant access")
	})
}

func TestReadTasksAndTagsScopes(t *testing.T) {
	t.Parallel()
	f := newHandlerFixture()
	id := f.store.add(testEnv, 2, batch.StatusProcessing)
	f.store.runs[batch.RunID(id, 0)] = store.Run{ID: batch.RunID(id, 0), Index: 0, Task: "a", Status: batch.RunQueued, Options: json.RawMessage(`{"tags":["user:1"]}`)}
	f.store.runs[batch.RunID(id, 1)] = store.Run{ID: batch.RunID(id, 1), Index: 1, Task: "b", Status: batch.RunQueued}
	f.srv.eachRun = (&fakeRuns{id: id, sizes: []int{10, 10}, statuses: []batch.RunStatus{batch.RunQueued, batch.RunQueued}, tasks: []string{"a", "b"}}).each
	read := func(scopes ...string) string { return sdkToken(t, testEnv, testKeySecret, false, time.Hour, scopes...) }
	retrieve := func(tok string, index int) answer {
		return f.do(http.MethodGet, "/api/v3/runs/"+batch.RunID(id, index), tok, "", "")
	}
	list := func(tok, query string) answer {
		return f.do(http.MethodGet, "/api/v1/runs?filter[batch]="+id+query, tok, "", "")
	}
	cases := []struct {
		name   string
		answer func() answer
		status int
	}{
		{"read:tasks:a retrieves a run of a", func() answer { return retrieve(read("read:tasks:a"), 0) }, 200},
		{"read:tasks:a does not retrieve a run of b", func() answer { return retrieve(read("read:tasks:a"), 1) }, 403},
		{"read:tags:user:1 retrieves a run tagged user:1", func() answer { return retrieve(read("read:tags:user:1"), 0) }, 200},
		{"read:tags:user:2 does not", func() answer { return retrieve(read("read:tags:user:2"), 0) }, 403},
		{"read:tags does not retrieve an untagged run", func() answer { return retrieve(read("read:tags"), 1) }, 403},
		{"read:tasks:a of another environment's key", func() answer {
			return retrieve(sdkToken(t, testEnv, otherKeySecret, false, time.Hour, "read:tasks:a"), 0)
		}, 401},
		{"read:tasks:a lists the runs of a", func() answer { return list(read("read:tasks:a"), "&filter[taskIdentifier]=a") }, 200},
		{"read:tasks:a does not list a and b", func() answer { return list(read("read:tasks:a"), "&filter[taskIdentifier]=a,b") }, 403},
		{"read:tasks:a does not list unfiltered", func() answer { return list(read("read:tasks:a"), "") }, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if a := tc.answer(); a.status != tc.status {
				t.Fatalf("answer %d %s, want %d", a.status, strings.TrimSpace(a.body), tc.status)
			}
		})
	}
}
