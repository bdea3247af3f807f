package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/streambatch/streambatch/wire"
)

// RetryPolicy bounds retries of one call. The zero value means the
// defaults: 5 attempts, backoff from 500 ms doubling to 30 s, with jitter.
type RetryPolicy struct {
	// MaxAttempts counts every attempt, the first included.
	MaxAttempts int
	// InitialBackoff is the wait after the first failure.
	InitialBackoff time.Duration
	// MaxBackoff caps a wait (a longer Retry-After is honoured up to 5 min).
	MaxBackoff time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = 500 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 30 * time.Second
	}
	return p
}

// backoff returns the wait after failed attempt n (1-based): exponential
// with "equal jitter" (between half and all of the step), or the server's
// Retry-After when it gave one.
func (p RetryPolicy) backoff(n int, err error) time.Duration {
	var api *APIError
	if errors.As(err, &api) && api.RetryAfter > 0 {
		return min(api.RetryAfter, 5*time.Minute)
	}
	step := p.InitialBackoff << min(n-1, 20)
	if step <= 0 || step > p.MaxBackoff {
		step = p.MaxBackoff
	}
	return step/2 + rand.N(step/2+1)
}

// Client talks to one streambatch server with one API key. It is safe for
// concurrent use.
type Client struct {
	base  *url.URL
	key   string
	http  *http.Client
	retry RetryPolicy
}

// Option configures New.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: a client without an
// overall timeout, since Phase 2 streams can be long; use contexts).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithRetry sets the retry policy of every call.
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// New returns a client for the server at baseURL (e.g.
// "http://127.0.0.1:8080") using apiKey.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("streambatch: base URL %q must be http(s)://host[:port]", baseURL)
	}
	if apiKey == "" {
		return nil, errors.New("streambatch: an API key is required")
	}
	c := &Client{base: u, key: apiKey, http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	c.retry = c.retry.withDefaults()
	return c, nil
}

// do sends one JSON request with retries and decodes the answer into out.
// body may be nil.
func (c *Client) do(ctx context.Context, method, path string, body any, out any) (*http.Response, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, method, path, raw, out)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if !retryable(err) || attempt >= c.retry.MaxAttempts || ctx.Err() != nil {
			return resp, lastErr
		}
		if err := sleep(ctx, c.retry.backoff(attempt, err)); err != nil {
			return resp, lastErr
		}
	}
}

func (c *Client) once(ctx context.Context, method, path string, raw []byte, out any) (*http.Response, error) {
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), rd)
	if err != nil {
		return nil, err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

// send executes req with the key and decodes a 2xx JSON answer into out;
// any other status becomes an *APIError.
func (c *Client) send(req *http.Request, out any) (*http.Response, error) {
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, apiError(req, resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, fmt.Errorf("streambatch: %s %s: unreadable answer: %w", req.Method, req.URL.Path, err)
		}
	}
	return resp, nil
}

func apiError(req *http.Request, resp *http.Response, data []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, Method: req.Method, Path: req.URL.Path,
		NoRetry: strings.EqualFold(resp.Header.Get("x-should-retry"), "false")}
	var body wire.ErrorBody
	if json.Unmarshal(data, &body) == nil && body.Error != "" {
		e.Message = body.Error
	} else {
		e.Message = strings.TrimSpace(string(data[:min(len(data), 512)]))
	}
	if v := resp.Header.Get("Retry-After"); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	return e
}

func (c *Client) url(path string) string { return c.base.String() + path }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
