package bench

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// LatencyProxy is a reverse proxy in front of S3 that delays every request
// by a fixed amount, to model a remote object store, and counts requests.
// streambatch and the baselines all reach S3 through it.
type LatencyProxy struct {
	URL     string // the proxy's endpoint, for S3_ENDPOINT
	delay   atomic.Int64
	puts    atomic.Int64
	gets    atomic.Int64
	heads   atomic.Int64
	other   atomic.Int64
	server  *http.Server
	lis     net.Listener
	backend *url.URL
}

// NewLatencyProxy listens on a free loopback port and forwards to target.
func NewLatencyProxy(target string) (*LatencyProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &LatencyProxy{URL: "http://" + l.Addr().String(), lis: l, backend: u}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			// SigV4 signed the proxy's host: keep it.
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
		Transport: &http.Transport{
			MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second,
			DisableCompression: true, WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10,
		},
	}
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			p.puts.Add(1)
		case http.MethodGet:
			p.gets.Add(1)
		case http.MethodHead:
			p.heads.Add(1)
		default:
			p.other.Add(1)
		}
		if d := time.Duration(p.delay.Load()); d > 0 {
			time.Sleep(d)
		}
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go p.server.Serve(l)
	return p, nil
}

// SetDelay sets the added latency per request.
func (p *LatencyProxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// S3Requests counts requests by kind since the last Reset.
type S3Requests struct {
	PUT, GET, HEAD, Other int64
}

// Total sums every kind.
func (r S3Requests) Total() int64 { return r.PUT + r.GET + r.HEAD + r.Other }

// Counts returns the counts so far.
func (p *LatencyProxy) Counts() S3Requests {
	return S3Requests{PUT: p.puts.Load(), GET: p.gets.Load(), HEAD: p.heads.Load(), Other: p.other.Load()}
}

// Reset zeroes the counters.
func (p *LatencyProxy) Reset() {
	p.puts.Store(0)
	p.gets.Store(0)
	p.heads.Store(0)
	p.other.Store(0)
}

// Close stops the proxy.
func (p *LatencyProxy) Close() error { return p.server.Close() }
