package testenv

import (
	"context"

	"github.com/streambatch/streambatch/internal/versitygw"
)

// StartS3 starts versitygw (package versitygw) on a free port with data
// under dir (created if needed), logging to dir+".log", with the tests'
// credentials. Starting it again after Stop serves the same data.
func StartS3(ctx context.Context, dir string) (*versitygw.Server, error) {
	return versitygw.Start(ctx, versitygw.Options{Dir: dir, Log: dir + ".log",
		AccessKey: "streambatch-test", SecretKey: "streambatch-test-secret"})
}
