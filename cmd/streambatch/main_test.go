package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("STREAMING_BATCH_MAX_ITEMS", "")
	cases := []struct {
		args     []string
		env      map[string]string
		code     int
		contains string
	}{
		{nil, nil, 2, "Commands:"},
		{[]string{"--help"}, nil, 0, "serve"},
		{[]string{"nope"}, nil, 2, `unknown command "nope"`},
		{[]string{"bench", "--scenario", "all"}, nil, 2, "streambatch bench is now its own command, streambatch-bench"},
		{[]string{"serve", "--help"}, nil, 0, "STREAMBATCH_HTTP_ADDR"},
		{[]string{"worker", "--bogus"}, nil, 2, "flag provided but not defined"},
		{[]string{"migrate"}, nil, 1, "DATABASE_URL: required"},
		{[]string{"worker"}, map[string]string{"STREAMING_BATCH_MAX_ITEMS": "lots"}, 1, `STREAMING_BATCH_MAX_ITEMS: want an integer, got "lots"`},
		{[]string{"keys"}, nil, 2, "keys create --env NAME"},
		{[]string{"keys", "create", "--env", "Bad Name"}, nil, 2, "is invalid"},
	}
	for _, tc := range cases {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.contains) {
			t.Errorf("streambatch %v: exit %d, output %q; want exit %d containing %q", tc.args, code, out.String()+errb.String(), tc.code, tc.contains)
		}
		for k := range tc.env {
			t.Setenv(k, "")
		}
	}
}
