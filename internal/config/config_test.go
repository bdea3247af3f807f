package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaultsAreValid(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(0); err != nil {
		t.Fatal(err)
	}
	if c.ItemMaxBytes != 3<<20 || c.OffloadThreshold != 512<<10 || c.SealTimeout != 30*time.Minute || c.MaxItems < 1_000_000 || c.RunDefaultTTL != 0 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if got := c.MaxConns(); got != c.IngestConcurrency+8 {
		t.Fatalf("MaxConns = %d", got)
	}
}

func TestFromEnvOverrides(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(map[string]string{
		EnvDatabaseURL:       "postgres://x",
		EnvItemMaxBytes:      "1MiB",
		EnvOffloadThreshold:  "1000",
		EnvSealTimeout:       "2m",
		EnvMaxItems:          "2_000",
		EnvIngestConcurrency: " 7 ",
		EnvS3Bucket:          "b",
		EnvJWTSecret:         strings.Repeat("s", 32),
		EnvPayloadKeys:       "k1:" + strings.Repeat("A", 43) + "=",
		EnvRunDefaultTTL:     "10m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ItemMaxBytes != 1<<20 || c.OffloadThreshold != 1000 || c.SealTimeout != 2*time.Minute || c.MaxItems != 2000 || c.IngestConcurrency != 7 || c.RunDefaultTTL != 10*time.Minute {
		t.Fatalf("overrides not applied: %+v", c)
	}
	if err := c.Validate(NeedDatabase | NeedS3 | NeedJWT | NeedTemporal); err != nil {
		t.Fatal(err)
	}
}

func TestFromEnvReportsEveryMalformedValue(t *testing.T) {
	t.Parallel()
	_, err := FromEnv(env(map[string]string{
		EnvMaxItems:     "lots",
		EnvSealTimeout:  "30",
		EnvItemMaxBytes: "3 parsecs",
	}))
	if err == nil {
		t.Fatal("want error")
	}
	for _, name := range []string{EnvMaxItems, EnvSealTimeout, EnvItemMaxBytes} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestValidateNamesEachProblem(t *testing.T) {
	t.Parallel()
	c := Default()
	c.MaxItems = 0
	c.UploadBytesInFlight = 1
	c.LogLevel = "loud"
	c.S3Endpoint = "127.0.0.1:7070"
	c.WorkflowWindow = 5000
	c.RunDefaultTTL = time.Millisecond
	c.HTTPReadTimeout = 0
	c.HTTPWriteTimeout = time.Millisecond
	err := c.Validate(NeedDatabase | NeedS3 | NeedJWT)
	if err == nil {
		t.Fatal("want error")
	}
	for _, name := range []string{EnvDatabaseURL, EnvS3Bucket, EnvJWTSecret, EnvMaxItems, EnvUploadBytesInFlight, EnvLogLevel, EnvS3Endpoint, EnvWorkflowWindow, EnvHTTPReadTimeout, EnvHTTPWriteTimeout, EnvRunDefaultTTL} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), EnvChunkItems) {
		t.Errorf("error names a valid setting: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"0": 0, "3145728": 3 << 20, "512KiB": 512 << 10, "3 MiB": 3 << 20, "1GiB": 1 << 30, "2KB": 2000, "10B": 10} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "MiB", "12XB", "99999999999GiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

// The README's configuration table lists every environment variable: each
// Env constant of env.go.
func TestReadmeListsEveryVariable(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "env.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for k, id := range vs.Names {
				lit, ok := vs.Values[k].(*ast.BasicLit)
				if !strings.HasPrefix(id.Name, "Env") || !ok {
					continue
				}
				n++
				name, _ := strconv.Unquote(lit.Value)
				if !strings.Contains(string(raw), "`"+name+"`") {
					t.Errorf("README does not document %s (%s)", name, id.Name)
				}
			}
		}
	}
	if n < 30 {
		t.Fatalf("found only %d variables in env.go", n)
	}
}

// Profiles expose memory: the debug address must be loopback.
func TestDebugAddrMustBeLoopback(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{"127.0.0.1:6060": true, "[::1]:6060": true, "localhost:6060": true,
		":6060": false, "0.0.0.0:6060": false, "10.0.0.5:6060": false, "example.com:6060": false, "6060": false} {
		c := Default()
		c.DebugAddr = addr
		err := c.Validate(0)
		if ok != (err == nil) {
			t.Errorf("%q: %v", addr, err)
		}
	}
}

// TLS settings for Temporal: a certificate needs its key, files must exist,
// and any of them (or an API key) turns TLS on.
func TestTemporalTLSSettings(t *testing.T) {
	t.Parallel()
	c := Default()
	if c.TemporalUsesTLS() {
		t.Fatal("TLS on by default")
	}
	c.TemporalTLSCertFile = "/nonexistent/client.pem"
	err := c.Validate(NeedTemporal)
	if err == nil || !strings.Contains(err.Error(), EnvTemporalTLSCertFile) || !strings.Contains(err.Error(), EnvTemporalTLSKeyFile) {
		t.Fatalf("certificate without key: %v", err)
	}
	c = Default()
	c.TemporalAPIKey = "key"
	if !c.TemporalUsesTLS() {
		t.Fatal("an API key without TLS")
	}
	got, err := FromEnv(func(k string) string {
		return map[string]string{EnvTemporalTLS: "yes please"}[k]
	})
	if err == nil || !strings.Contains(err.Error(), EnvTemporalTLS) {
		t.Fatalf("TEMPORAL_TLS=yes please: %v %+v", err, got.TemporalTLS)
	}
}

func TestCodecHosts(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(map[string]string{EnvCodecHosts: " codec.example.com, ops.example.com:9443 ,[::1],"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.CodecHosts, "|") != "codec.example.com|ops.example.com:9443|[::1]" {
		t.Fatalf("CodecHosts %q", c.CodecHosts)
	}
	if err := c.Validate(0); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"https://codec.example.com", "codec.example.com/decode", "user@codec.example.com", ":8089"} {
		c := Default()
		c.CodecHosts = []string{bad}
		if err := c.Validate(0); err == nil || !strings.Contains(err.Error(), EnvCodecHosts) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Env renders settings that FromEnv reads back unchanged.
func TestEnvRoundTrips(t *testing.T) {
	t.Parallel()
	c := Default()
	c.DatabaseURL, c.TemporalAddress, c.TaskQueue = "postgres://u@h:5432/d", "127.0.0.1:7233", "q"
	c.S3Endpoint, c.S3Bucket, c.S3AccessKeyID, c.S3SecretAccessKey = "http://127.0.0.1:7070", "b", "ak", "sk"
	c.JWTSecret, c.LogLevel, c.DBMaxConns, c.SealWait, c.ChunkItems, c.MemoryLimit = "s", "debug", 12, 90*time.Second, 100, 64<<20
	m := map[string]string{}
	for _, kv := range c.Env() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	got, err := FromEnv(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if got.DatabaseURL != c.DatabaseURL || got.TemporalAddress != c.TemporalAddress || got.TaskQueue != c.TaskQueue ||
		got.S3Endpoint != c.S3Endpoint || got.S3Bucket != c.S3Bucket || got.S3AccessKeyID != c.S3AccessKeyID ||
		got.S3SecretAccessKey != c.S3SecretAccessKey || got.JWTSecret != c.JWTSecret || got.LogLevel != c.LogLevel ||
		got.DBMaxConns != c.DBMaxConns || got.SealWait != c.SealWait || got.ChunkItems != c.ChunkItems || got.MemoryLimit != c.MemoryLimit {
		t.Fatalf("FromEnv(Env()) = %+v, want %+v", got, c)
	}
}

func TestSlicedTasks(t *testing.T) {
	c, err := FromEnv(func(k string) string {
		if k == EnvSlicedTasks {
			return " send-email=50, prod/resize = 20 "
		}
		return ""
	})
	if err != nil || c.SlicedTasks["send-email"] != 50 || c.SlicedTasks["prod/resize"] != 20 || len(c.SlicedTasks) != 2 {
		t.Fatalf("%v, %v", c.SlicedTasks, err)
	}
	for _, bad := range []string{"t", "t=1", "t=1001", "=5", "t=x"} {
		_, err := FromEnv(func(k string) string {
			if k == EnvSlicedTasks {
				return bad
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), EnvSlicedTasks) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestPayloadRefSettings(t *testing.T) {
	t.Parallel()
	c := Default()
	if c.PayloadRefThreshold != 4<<10 || c.PayloadsByRef() {
		t.Fatalf("defaults: threshold %d, by reference %v (want 4 KiB, off without a URL)", c.PayloadRefThreshold, c.PayloadsByRef())
	}
	c, err := FromEnv(env(map[string]string{EnvPayloadRefThreshold: "8KiB", EnvPayloadRefURL: "https://api.internal:8080", EnvPayloadRefTTL: "2h"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.PayloadRefThreshold != 8<<10 || c.PayloadRefTTL != 2*time.Hour || !c.PayloadsByRef() {
		t.Fatalf("overrides not applied: %d %s %v", c.PayloadRefThreshold, c.PayloadRefTTL, c.PayloadsByRef())
	}
	if err := c.Validate(0); err != nil {
		t.Fatal(err)
	}
	c.PayloadRefThreshold = 0
	if c.PayloadsByRef() {
		t.Fatal("threshold 0 must turn references off")
	}
	for name, change := range map[string]func(c *Config){
		EnvPayloadRefThreshold:       func(c *Config) { c.PayloadRefThreshold = 100 },
		EnvPayloadRefURL + " scheme": func(c *Config) { c.PayloadRefURL = "api.internal:8080" },
		EnvPayloadRefURL + " query":  func(c *Config) { c.PayloadRefURL = "http://api.internal/?x=1" },
		EnvPayloadRefTTL:             func(c *Config) { c.PayloadRefTTL = time.Second },
	} {
		c := Default()
		change(&c)
		err := c.Validate(0)
		if want, _, _ := strings.Cut(name, " "); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
