package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLine checks the flags that are rejected before any stack
// starts.
func TestCommandLine(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "streambatch")
	cases := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"--help"}, 0, "Usage: streambatch-bench [flags]"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
		{[]string{"extra"}, 2, "unexpected arguments"},
		{[]string{"--temporal", "cloud"}, 2, `bad --temporal "cloud"`},
		{[]string{"--workers", "0"}, 2, "--workers and --replicas must be between 1 and 16"},
		{[]string{"--scenario", "Q"}, 2, `unknown scenario "Q"`},
		{[]string{"--keyed", "101"}, 2, "--keyed must be a percentage from 0 to 100"},
		{[]string{"--s3-latency", "soon"}, 2, `bad --s3-latency "soon"`},
		{[]string{"--systems", "nope"}, 2, `unknown system "nope"`},
		{[]string{"--streambatch", missing}, 1, "streambatch-bench: exec: " + `"` + missing + `"`},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.contains) {
			t.Errorf("streambatch-bench %v: exit %d, output %q; want exit %d containing %q", tc.args, code, out.String()+errb.String(), tc.code, tc.contains)
		}
	}
}
