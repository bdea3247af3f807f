package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/streambatch/streambatch/internal/store"
)

// tokenTTL is the lifetime of the public access tokens of Phase 1.
const tokenTTL = time.Hour

// Issuers of the tokens the API accepts as Bearer credentials.
const (
	// issuerStreambatch signs the x-trigger-jwt of Phase 1 with
	// STREAMBATCH_JWT_SECRET; kid names the API key that created the batch.
	issuerStreambatch = "streambatch"
	// issuerTriggerDev is what the trigger.dev SDK writes when it signs a
	// public token itself with the environment's API key
	// (auth.createPublicToken, generateJWT in @trigger.dev/core).
	issuerTriggerDev   = "https://id.trigger.dev"
	audienceTriggerDev = "https://api.trigger.dev"
)

// tokenClaims are the claims streambatch reads. Sub is the environment id.
type tokenClaims struct {
	jwt.RegisteredClaims
	Scopes []string `json:"scopes"`
	Pub    bool     `json:"pub"`
	KeyID  int64    `json:"kid,omitempty"`
	// OneTimeUse is the SDK's otu: a trigger token that creates at most
	// one batch (auth.createTriggerPublicToken without multipleUse: true).
	OneTimeUse bool `json:"otu,omitempty"`
	// Tasks, in a batch token of a batch a public token created, are the
	// only tasks its items may name.
	Tasks []string `json:"tasks,omitempty"`
}

// publicToken is a verified public access token.
type publicToken struct {
	env    store.Environment
	scopes []string
	// keyID is the API key that created the batch of a streambatch token,
	// or that signed an SDK token.
	keyID int64
	// sdk identifies a token the SDK signed (nil for a streambatch
	// token), as the batches it creates record it.
	sdk *store.PublicToken
	// tasks restricts the items the token streams (nil: any task).
	tasks []string
}

// setBatchToken sends the x-trigger-jwt header (an HS256 token scoped to
// reading one batch, and writing its items when write; the trigger.dev SDK
// returns it as publicAccessToken) and x-trigger-jwt-claims.
// tasks, when not nil, are the only tasks the items may name.
func (s *Server) setBatchToken(c *gin.Context, envID, keyID int64, batchID string, write bool, tasks []string) error {
	now := time.Now()
	scopes := []string{"read:batch:" + batchID}
	if write {
		scopes = append(scopes, "write:batch:"+batchID)
	}
	sub := strconv.FormatInt(envID, 10)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: sub, Issuer: issuerStreambatch,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(tokenTTL))},
		Scopes: scopes, Pub: true, KeyID: keyID, Tasks: tasks,
	})
	signed, err := tok.SignedString(s.jwtSecret)
	if err != nil {
		return err
	}
	claims, _ := json.Marshal(map[string]any{"sub": sub, "pub": true})
	c.Header("x-trigger-jwt", signed)
	c.Header("x-trigger-jwt-claims", string(claims))
	return nil
}

// jwtClaims is POST /api/v1/auth/jwt/claims: the claims the trigger.dev SDK
// puts in the public tokens it signs itself with the API key.
func (s *Server) jwtClaims(c *gin.Context) {
	c.JSON(200, gin.H{"sub": strconv.FormatInt(envOf(c).ID, 10), "pub": true})
}

// errToken is any refused token; the reason is logged, not sent.
var errToken = errors.New("invalid public access token")

// looksLikeJWT tells a token from an API key (sb_…).
func looksLikeJWT(s string) bool {
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2
}

// verifyToken checks a public access token: HS256 only, an expiry, and a
// signature by STREAMBATCH_JWT_SECRET (our Phase 1 tokens, whose creating
// key must still be active) or by one of the environment's active API keys
// (tokens the SDK signed itself).
func (s *Server) verifyToken(ctx context.Context, raw string) (publicToken, error) {
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Second))
	var peek tokenClaims
	if _, _, err := parser.ParseUnverified(raw, &peek); err != nil {
		return publicToken{}, fmt.Errorf("%w: %v", errToken, err)
	}
	envID, err := strconv.ParseInt(peek.Subject, 10, 64)
	if err != nil {
		return publicToken{}, fmt.Errorf("%w: sub %q is not an environment", errToken, peek.Subject)
	}
	var claims tokenClaims
	switch peek.Issuer {
	case issuerStreambatch:
		if _, err := parser.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return s.jwtSecret, nil }); err != nil {
			return publicToken{}, fmt.Errorf("%w: %v", errToken, err)
		}
		env, err := s.store.ActiveKeyEnvironment(ctx, claims.KeyID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && env.ID != envID) {
			return publicToken{}, fmt.Errorf("%w: its key is revoked or of another environment", errToken)
		}
		return publicToken{env: env, scopes: claims.Scopes, keyID: claims.KeyID, tasks: claims.Tasks}, err
	case issuerTriggerDev:
		env, secrets, err := s.store.EnvironmentKeySecrets(ctx, envID)
		if errors.Is(err, store.ErrNotFound) {
			return publicToken{}, fmt.Errorf("%w: environment %d has no key", errToken, envID)
		}
		if err != nil {
			return publicToken{}, err
		}
		sdk := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Second), jwt.WithAudience(audienceTriggerDev))
		for _, k := range secrets {
			claims = tokenClaims{}
			if _, err := sdk.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return k.Secret, nil }); err == nil {
				sum := sha256.Sum256([]byte(raw))
				return publicToken{env: env, scopes: claims.Scopes, keyID: k.ID,
					sdk: &store.PublicToken{Hash: sum[:], OneTime: claims.OneTimeUse, ExpiresAt: claims.ExpiresAt.Time}}, nil
			}
		}
		return publicToken{}, fmt.Errorf("%w: no active key of environment %d signed it", errToken, envID)
	}
	return publicToken{}, fmt.Errorf("%w: issuer %q", errToken, peek.Issuer)
}

// allows reports whether scopes grant access: read of a batch (and its
// runs), read of a run, or write (streaming items) of a batch. read:all and
// read:runs grant every read in the token's environment.
func allows(scopes []string, write bool, batchID, runID string) bool {
	for _, sc := range scopes {
		switch {
		case write:
			if batchID != "" && sc == "write:batch:"+batchID {
				return true
			}
		case sc == "read:all", sc == "read:runs", sc == "write:batch:"+batchID && batchID != "":
			return true
		case batchID != "" && sc == "read:batch:"+batchID:
			return true
		case runID != "" && sc == "read:runs:"+runID:
			return true
		}
	}
	return false
}

// triggerScopes are the scope actions that let a public token create a
// batch of a task: trigger.dev's batchTrigger and trigger (streambatch
// triggers only through batches) and write, each as <action>:tasks:<task>
// or, for every task, <action>:tasks.
var triggerScopes = []string{"batchTrigger", "trigger", "write"}

// mayTrigger reports whether scopes grant creating a batch of task, or of
// any task when task is "".
func mayTrigger(scopes []string, task string) bool {
	for _, sc := range scopes {
		for _, action := range triggerScopes {
			rest, ok := strings.CutPrefix(sc, action+":tasks")
			if ok && (rest == "" || (task == "" && strings.HasPrefix(rest, ":")) || (task != "" && rest == ":"+task)) {
				return true
			}
		}
	}
	return false
}

// readsTask reports whether scopes grant reading the runs of task
// (read:tasks:<task>, or read:tasks for every task).
func readsTask(scopes []string, task string) bool {
	for _, sc := range scopes {
		if sc == "read:tasks" || sc == "read:tasks:"+task {
			return true
		}
	}
	return false
}

// readsTag reports whether scopes grant reading runs tagged with one of
// tags (read:tags:<tag>, or read:tags for every tagged run).
func readsTag(scopes []string, tags []string) bool {
	for _, sc := range scopes {
		if sc == "read:tags" && len(tags) > 0 {
			return true
		}
		if tag, ok := strings.CutPrefix(sc, "read:tags:"); ok && slices.Contains(tags, tag) {
			return true
		}
	}
	return false
}
