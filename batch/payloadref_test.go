package batch

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func refQuery(t *testing.T, ref string) url.Values {
	t.Helper()
	u, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestPayloadRefVerifiesItsOwnReference(t *testing.T) {
	t.Parallel()
	s, err := NewPayloadRefSigner("secret-secret-secret-secret-secret")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	ref := s.URL("http://api.example:8080/", "dev", "run_abc_3", now.Add(time.Hour))
	if !strings.HasPrefix(ref, "http://api.example:8080/api/v3/runs/run_abc_3/payload?exp=1800003600&sig=") {
		t.Fatalf("reference %s", ref)
	}
	if err := s.Verify("dev", "run_abc_3", refQuery(t, ref), now); err != nil {
		t.Fatal(err)
	}
}

func TestPayloadRefRefusesAnotherRunEnvironmentOrSecret(t *testing.T) {
	t.Parallel()
	s, _ := NewPayloadRefSigner("secret-secret-secret-secret-secret")
	other, _ := NewPayloadRefSigner("another-secret-another-secret-another")
	now := time.Unix(1_800_000_000, 0)
	q := refQuery(t, s.URL("http://x", "dev", "run_abc_3", now.Add(time.Hour)))
	cases := map[string]func() error{
		"other environment": func() error { return s.Verify("prod", "run_abc_3", q, now) },
		"other run":         func() error { return s.Verify("dev", "run_abc_4", q, now) },
		"other secret":      func() error { return other.Verify("dev", "run_abc_3", q, now) },
		"later expiry": func() error {
			q2 := url.Values{PayloadRefExpParam: {"1900000000"}, PayloadRefSigParam: q[PayloadRefSigParam]}
			return s.Verify("dev", "run_abc_3", q2, now)
		},
		"no signature": func() error {
			return s.Verify("dev", "run_abc_3", url.Values{PayloadRefExpParam: q[PayloadRefExpParam]}, now)
		},
		"two signatures": func() error {
			q2 := url.Values{PayloadRefExpParam: q[PayloadRefExpParam], PayloadRefSigParam: {q.Get(PayloadRefSigParam), "x"}}
			return s.Verify("dev", "run_abc_3", q2, now)
		},
		"malformed expiry": func() error {
			q2 := url.Values{PayloadRefExpParam: {"soon"}, PayloadRefSigParam: q[PayloadRefSigParam]}
			return s.Verify("dev", "run_abc_3", q2, now)
		},
	}
	for name, verify := range cases {
		t.Run(name, func(t *testing.T) {
			if err := verify(); !errors.Is(err, ErrPayloadRefMAC) {
				t.Fatalf("got %v, want ErrPayloadRefMAC", err)
			}
		})
	}
}

func TestPayloadRefExpires(t *testing.T) {
	t.Parallel()
	s, _ := NewPayloadRefSigner("secret-secret-secret-secret-secret")
	exp := time.Unix(1_800_000_000, 0)
	q := refQuery(t, s.URL("http://x", "dev", "run_abc_3", exp))
	if err := s.Verify("dev", "run_abc_3", q, exp.Add(-time.Second)); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	if err := s.Verify("dev", "run_abc_3", q, exp); !errors.Is(err, ErrPayloadRefExpired) {
		t.Fatalf("at expiry: %v", err)
	}
}
