package sealbox

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	b, err := New("0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	sealed := b.Seal([]byte("sb_secret"), []byte("row-1"))
	if bytes.Contains(sealed, []byte("sb_secret")) {
		t.Fatal("plain text in the sealed value")
	}
	got, err := b.Open(sealed, []byte("row-1"))
	if err != nil || string(got) != "sb_secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := b.Open(sealed, []byte("row-2")); !errors.Is(err, ErrOpen) {
		t.Fatalf("moved to another row: %v", err)
	}
	other, _ := New("another-secret-another-secret-another")
	if _, err := other.Open(sealed, []byte("row-1")); !errors.Is(err, ErrOpen) {
		t.Fatalf("another key: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := b.Open(sealed, []byte("row-1")); !errors.Is(err, ErrOpen) {
		t.Fatalf("damaged: %v", err)
	}
	if _, err := New("short"); err == nil {
		t.Fatal("short secret accepted")
	}
}
