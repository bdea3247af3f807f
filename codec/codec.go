// Package codec encrypts the payloads streambatch hands to Temporal (workflow
// inputs, signals, activity inputs and results, queries, failures' messages)
// with AES-256-GCM, so that tenant data is not readable in Temporal's
// history, its database or Temporal UI without the keys. Each encrypted
// payload names its key in its metadata: a key set lists the key that
// encrypts first and older keys after it, which still decrypt, so keys
// rotate without breaking running workflows. Payloads that are not
// encrypted (histories written without encryption, a signal typed into the
// Temporal CLI) decode unchanged.
//
// A run activity (task queue runs.<env>…) is encrypted under its
// environment's key, derived from the set (Keys.EnvKeys): an environment's
// task workers hold only that, and read no other environment's runs.
// Workflows that wait for batches use streambatch's own set. Build those
// clients with Apply. It imports nothing of the streambatch server.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

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

var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,160}$`)

// Keys is a parsed key set: the first key encrypts, every key decrypts.
// From a key set of streambatch's own keys it derives each environment's
// keys (EnvKeys): run activities on task queue runs.<env>… are encrypted
// under the environment's key, which is all that environment's task
// workers hold, so they cannot read another environment's runs.
type Keys struct {
	active string
	raw    map[string][]byte
	aeads  map[string]cipher.AEAD

	mu      sync.Mutex
	derived map[string]cipher.AEAD // environment keys derived on use
}

// ParseKeys parses a key set written as comma-separated id:key pairs, the
// key being 32 random bytes in base64 (standard or URL alphabet), e.g.
// "k2:…,k1:…" while rotating from k1 to k2 (`streambatch payload-key`
// prints a new one).
func ParseKeys(s string) (*Keys, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("no payload keys: set id:base64-key pairs (generate one with: streambatch payload-key)")
	}
	k := &Keys{raw: map[string][]byte{}, aeads: map[string]cipher.AEAD{}, derived: map[string]cipher.AEAD{}}
	for i, part := range strings.Split(s, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !keyIDRE.MatchString(id) {
			return nil, fmt.Errorf("payload key %d: want id:base64-key with an id of 1 to 160 letters, digits, '.', '_' or '-'", i+1)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("payload key id %q appears twice", id)
		}
		raw, err := decodeKey(b64)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("payload key %q: want 32 bytes in base64 (e.g. openssl rand -base64 32)", id)
		}
		aead, err := newAEAD(raw)
		if err != nil {
			return nil, err
		}
		k.raw[id], k.aeads[id] = raw, aead
		if i == 0 {
			k.active = id
		}
	}
	return k, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// envSep joins a key id and an environment in an environment key's id:
// "<key id>.env-<environment>".
const envSep = ".env-"

// envKey derives environment env's key from a key of the set.
func envKey(key []byte, env string) ([]byte, error) {
	return hkdf.Key(sha256.New, key, nil, "streambatch/payload-key/env/"+env, 32)
}

// EnvKeys returns the key set an environment's task workers hold: for each
// key of this set (the encrypting one first), the key derived for env,
// with id "<id>.env-<env>". It decrypts what streambatch encrypts for
// env's runs and encrypts what they return; nothing else.
func (k *Keys) EnvKeys(env string) (string, error) {
	if strings.Contains(k.active, envSep) {
		return "", errors.New("this key set is already an environment's")
	}
	ids := []string{k.active}
	for id := range k.raw {
		if id != k.active {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids[1:])
	parts := make([]string, len(ids))
	for i, id := range ids {
		key, err := envKey(k.raw[id], env)
		if err != nil {
			return "", err
		}
		parts[i] = id + envSep + env + ":" + base64.StdEncoding.EncodeToString(key)
	}
	return strings.Join(parts, ","), nil
}

// aead returns the cipher of a key id: one of the set, or an environment
// key derived from one of the set.
func (k *Keys) aead(id string) (cipher.AEAD, bool) {
	if a, ok := k.aeads[id]; ok {
		return a, true
	}
	base, env, ok := strings.Cut(id, envSep)
	raw, have := k.raw[base]
	if !ok || !have || env == "" || strings.Contains(env, envSep) {
		return nil, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if a, ok := k.derived[id]; ok {
		return a, true
	}
	key, err := envKey(raw, env)
	if err != nil {
		return nil, false
	}
	a, err := newAEAD(key)
	if err != nil {
		return nil, false
	}
	k.derived[id] = a
	return a, true
}

// encryptingID is the key id that encrypts payloads of environment env
// ("" for streambatch's own): the active key, or the active key's key for
// env when the set is streambatch's (an environment's set encrypts with
// its own key whatever the payload).
func (k *Keys) encryptingID(env string) string {
	if env == "" || strings.Contains(k.active, envSep) {
		return k.active
	}
	return k.active + envSep + env
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
		return "", fmt.Errorf("key id %q: use 1 to 160 letters, digits, '.', '_' or '-'", id)
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
type Codec struct {
	keys *Keys
	env  string // the environment whose run the payloads belong to, if any
}

// New returns the codec of keys.
func New(keys *Keys) *Codec { return &Codec{keys: keys} }

// RunsQueuePrefix starts the task queues of run activities:
// runs.<environment>[.<queue>].
const RunsQueuePrefix = "runs."

// WithSerializationContext binds the codec to the environment of a run
// activity (its task queue runs.<env>…): its input, result, heartbeats and
// failures are encrypted under that environment's key.
func (c *Codec) WithSerializationContext(ctx converter.SerializationContext) converter.PayloadCodec {
	a, ok := ctx.(converter.ActivitySerializationContext)
	if !ok {
		return c
	}
	rest, ok := strings.CutPrefix(a.TaskQueue, RunsQueuePrefix)
	if !ok {
		return c
	}
	env, _, _ := strings.Cut(rest, ".")
	if env == "" {
		return c
	}
	return &Codec{keys: c.keys, env: env}
}

// Encode encrypts each payload (its whole protobuf: metadata and data)
// with the active key, or its environment's key for a run activity.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	id := c.keys.encryptingID(c.env)
	aead, ok := c.keys.aead(id)
	if !ok {
		return nil, fmt.Errorf("no key %q to encrypt with", id)
	}
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
				MetadataKeyID:              []byte(id),
			},
			Data: aead.Seal(sealed, sealed, plain, []byte(id)),
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
		aead, ok := c.keys.aead(id)
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

// EnvDataConverter is the SDK's default data converter with the codec of
// keys bound to environment env: it encrypts under env's key, which the
// environment's own key set (Keys.EnvKeys) decrypts. streambatch encodes
// with it what it sends to an environment's own workflows (the completion
// signal of a batch's parent).
func EnvDataConverter(keys *Keys, env string) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), &Codec{keys: keys, env: env})
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
// those of keys. Unless the options chose a gRPC compression, it also turns
// the SDK's default gzip off: encrypted payloads do not compress, so gzip
// would only spend CPU on both ends (in the benchmark's worker, 16 % of its
// CPU; the Temporal server decompresses and compresses in turn).
func Apply(opts *client.Options, keys *Keys) {
	opts.DataConverter = DataConverter(keys)
	opts.FailureConverter = FailureConverter(keys)
	if opts.ConnectionOptions.GrpcCompression == nil {
		opts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
	}
}
