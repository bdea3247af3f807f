// Package codec encrypts the payloads streambatch hands to Temporal (workflow
// inputs, signals, activity inputs and results, queries, failures' messages)
// with AES-256-GCM, so that tenant data is not readable in Temporal's
// history, its database or Temporal UI without the keys. Each encrypted
// payload names its key in its metadata: a key set lists the key that
// encrypts first and older keys after it, which still decrypt, so keys
// rotate without breaking running workflows. Payloads that are not
// encrypted (histories written before encryption, a signal typed into the
// Temporal CLI) decode unchanged.
//
// Task workers and workflows that wait for batches use the same keys:
// build their Temporal client with Apply. It imports nothing of the
// streambatch server.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

const (
	// MetadataEncoding is the encoding metadata value of an encrypted
	// payload.
	MetadataEncoding = "binary/encrypted"
	// MetadataKeyID is the metadata key that names the payload's key.
	MetadataKeyID = "encryption-key-id"
	// EnvKeys is the environment variable that holds a key set.
	EnvKeys = "STREAMBATCH_PAYLOAD_KEYS"
)

var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Keys is a parsed key set: the first key encrypts, every key decrypts.
type Keys struct {
	active string
	aeads  map[string]cipher.AEAD
}

// ParseKeys parses a key set written as comma-separated id:key pairs, the
// key being 32 random bytes in base64 (standard or URL alphabet), e.g.
// "k2:…,k1:…" while rotating from k1 to k2 (`streambatch payload-key`
// prints a new one).
func ParseKeys(s string) (*Keys, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("no payload keys: set id:base64-key pairs (generate one with: streambatch payload-key)")
	}
	k := &Keys{aeads: map[string]cipher.AEAD{}}
	for i, part := range strings.Split(s, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !keyIDRE.MatchString(id) {
			return nil, fmt.Errorf("payload key %d: want id:base64-key with an id of 1 to 64 letters, digits, '.', '_' or '-'", i+1)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("payload key id %q appears twice", id)
		}
		raw, err := decodeKey(b64)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("payload key %q: want 32 bytes in base64 (e.g. openssl rand -base64 32)", id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.aeads[id] = aead
		if i == 0 {
			k.active = id
		}
	}
	return k, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// NewKey returns a new key set entry id:key with 32 random bytes.
func NewKey(id string) (string, error) {
	if !keyIDRE.MatchString(id) {
		return "", fmt.Errorf("key id %q: use 1 to 64 letters, digits, '.', '_' or '-'", id)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return id + ":" + base64.StdEncoding.EncodeToString(b), nil
}

// ActiveID names the key that encrypts.
func (k *Keys) ActiveID() string { return k.active }

// Codec is the converter.PayloadCodec of a key set.
type Codec struct{ keys *Keys }

// New returns the codec of keys.
func New(keys *Keys) *Codec { return &Codec{keys: keys} }

// Encode encrypts each payload (its whole protobuf: metadata and data)
// with the active key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.keys.aeads[c.keys.active]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		sealed := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(sealed); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(MetadataEncoding),
				MetadataKeyID:              []byte(c.keys.active),
			},
			Data: aead.Seal(sealed, sealed, plain, []byte(c.keys.active)),
		}
	}
	return out, nil
}

// Decode decrypts encrypted payloads and passes the others through.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != MetadataEncoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.keys.aeads[id]
		if !ok {
			return nil, fmt.Errorf("payload encrypted with key %q, which this key set (%s) does not hold", id, EnvKeys)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize()+aead.Overhead() {
			return nil, fmt.Errorf("encrypted payload too short (%d bytes)", len(data))
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("payload does not decrypt with key %q (damaged, or another key under the same id)", id)
		}
		var dec commonpb.Payload
		if err := proto.Unmarshal(plain, &dec); err != nil {
			return nil, fmt.Errorf("decrypted payload: %w", err)
		}
		out[i] = &dec
	}
	return out, nil
}

// DataConverter is the SDK's default data converter with the codec of keys.
func DataConverter(keys *Keys) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), New(keys))
}

// FailureConverter moves failure messages and stack traces into encrypted
// attributes, so that error texts (which may quote tenant data) are not
// readable in history either.
func FailureConverter(keys *Keys) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          DataConverter(keys),
		EncodeCommonAttributes: true,
	})
}

// Apply sets the data and failure converters of Temporal client options to
// those of keys.
func Apply(opts *client.Options, keys *Keys) {
	opts.DataConverter = DataConverter(keys)
	opts.FailureConverter = FailureConverter(keys)
}
