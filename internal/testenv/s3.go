package testenv

import (
	"github.com/streambatch/streambatch/internal/proc"

	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// S3 is a versitygw server with its posix backend in a folder.
type S3 struct {
	Endpoint  string // http://127.0.0.1:port
	Addr      string
	AccessKey string
	SecretKey string
	Region    string
	Dir       string // backend folder: objects are files under Dir/<bucket>/<key>
	child     *proc.Process
}

// StartS3 starts versitygw on a free port with data under dir (created if
// needed). Starting again on the same dir and address serves the same data.
func StartS3(ctx context.Context, dir string) (*S3, error) {
	addr, err := proc.FreeAddr()
	if err != nil {
		return nil, err
	}
	s := &S3{Endpoint: "http://" + addr, Addr: addr, AccessKey: "streambatch-test", SecretKey: "streambatch-test-secret", Region: "us-east-1", Dir: dir}
	return s, s.Start(ctx)
}

// Start (re)starts the server on its address and folder.
func (s *S3) Start(ctx context.Context) error {
	bin, err := proc.VersityGW.Path()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	p, err := proc.StartProcess(filepath.Join(filepath.Dir(s.Dir), filepath.Base(s.Dir)+".log"), nil, bin,
		"--port", s.Addr, "--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
		"--health", "/health", "--quiet", "posix", s.Dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.WaitTCP(ctx, s.Addr); err != nil {
		p.Kill()
		return fmt.Errorf("testenv: versitygw: %w", err)
	}
	s.child = p
	return nil
}

// Stop stops the server (SIGTERM, then SIGKILL).
func (s *S3) Stop() {
	if s.child != nil {
		s.child.Stop(5 * time.Second)
		s.child = nil
	}
}

// Env returns the environment variables that point streambatch at it.
func (s *S3) Env(bucket string) []string {
	return []string{"S3_ENDPOINT=" + s.Endpoint, "S3_BUCKET=" + bucket, "AWS_REGION=" + s.Region,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey}
}
