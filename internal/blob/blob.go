// Package blob is streambatch's object storage: payload packets at their
// deterministic keys and staged chunk objects, in one S3-compatible bucket,
// through aws-sdk-go-v2 (its standard retryer handles transient faults).
//
// It knows key names only as strings given by callers (see package batch)
// and nothing of PostgreSQL or Temporal.
package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Config locates the bucket.
type Config struct {
	// Endpoint is the S3 endpoint URL; empty means AWS. When set, requests
	// use path-style addressing.
	Endpoint string
	// Bucket holds every object streambatch writes.
	Bucket string
	// Region is the signing region.
	Region string
	// AccessKeyID and SecretAccessKey are static credentials; when empty
	// the standard AWS credential chain applies.
	AccessKeyID, SecretAccessKey string
	// MaxAttempts bounds the SDK's retries of one request (default 5).
	MaxAttempts int
	// PublicEndpoint is the endpoint written into presigned URLs, for
	// clients that reach S3 by another address than streambatch does;
	// empty means Endpoint.
	PublicEndpoint string
}

// Store reads and writes objects of one bucket. It is safe for concurrent
// use.
type Store struct {
	s3      *s3.Client
	presign *s3.PresignClient
	bucket  string
}

// ErrNotFound reports a missing object.
var ErrNotFound = errors.New("object not found")

// ErrTooLarge reports an object larger than Get was allowed to read.
var ErrTooLarge = errors.New("object too large")

// New builds a client: static credentials when given, else the standard
// AWS credential chain (environment, profiles, roles).
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 5
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 256
		t.IdleConnTimeout = 90 * time.Second
		// Large payloads: 4 KiB buffers (the default) cost a write
		// syscall per 4 KiB.
		t.WriteBufferSize = 256 << 10
		t.ReadBufferSize = 256 << 10
	})
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithHTTPClient(httpClient),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = 5 * time.Second
			})
		}),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		// No whole-payload checksum on uploads (see Put).
		awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blob: AWS configuration: %w", err)
	}
	endpoint := func(url string) func(*s3.Options) {
		return func(o *s3.Options) {
			if url != "" {
				o.BaseEndpoint = aws.String(url)
				o.UsePathStyle = true
			}
		}
	}
	public := cfg.PublicEndpoint
	if public == "" {
		public = cfg.Endpoint
	}
	return &Store{
		s3:      s3.NewFromConfig(awsCfg, endpoint(cfg.Endpoint)),
		presign: s3.NewPresignClient(s3.NewFromConfig(awsCfg, endpoint(public))),
		bucket:  cfg.Bucket,
	}, nil
}

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.bucket }

// Put writes size bytes from body to key, overwriting any object there.
// body must be seekable so the SDK can retry it. The payload is neither part
// of the SigV4 signature (UNSIGNED-PAYLOAD) nor checksummed by the SDK:
// hashing every byte (SHA-256 and CRC32, then again in the S3 server) was
// the largest CPU cost of large payloads. Integrity in transit rests on TCP
// and TLS (use an https S3_ENDPOINT across networks); the enqueue step
// checks each packet's size.
func (s *Store) Put(ctx context.Context, key, contentType string, body io.ReadSeeker, size int64) error {
	_, err := s.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          body,
		ContentLength: aws.Int64(size),
		ContentType:   aws.String(contentType),
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil {
		return fmt.Errorf("blob: put %s (%d bytes): %w", key, size, err)
	}
	return nil
}

// Get reads a whole object, refusing one larger than maxSize bytes
// (ErrTooLarge).
func (s *Store) Get(ctx context.Context, key string, maxSize int64) ([]byte, error) {
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength > maxSize {
		return nil, fmt.Errorf("blob: get %s: %w: %d bytes, more than the %d allowed", key, ErrTooLarge, *out.ContentLength, maxSize)
	}
	size := int64(0)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	n, err := buf.ReadFrom(io.LimitReader(out.Body, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("blob: get %s: %w", key, err)
	}
	if n > maxSize {
		return nil, fmt.Errorf("blob: get %s: %w: more than the %d bytes allowed", key, ErrTooLarge, maxSize)
	}
	return buf.Bytes(), nil
}

// Size returns an object's size, or ErrNotFound.
func (s *Store) Size(ctx context.Context, key string) (int64, error) {
	out, err := s.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return 0, s.wrap("head", key, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// DeletePrefix deletes every object whose key starts with prefix and
// returns how many it deleted.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	deleted := 0
	err := s.ListPages(ctx, prefix, func(keys []string) error {
		if err := s.Delete(ctx, keys); err != nil {
			return err
		}
		deleted += len(keys)
		return nil
	})
	return deleted, err
}

// ListPages calls fn with each page of keys under prefix (up to 1,000, in
// key order) until the listing ends or fn fails.
func (s *Store) ListPages(ctx context.Context, prefix string, fn func(keys []string) error) error {
	p := s3.NewListObjectsV2Paginator(s.s3, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("blob: list %s: %w", prefix, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		keys := make([]string, len(page.Contents))
		for k, o := range page.Contents {
			keys[k] = aws.ToString(o.Key)
		}
		if err := fn(keys); err != nil {
			return err
		}
	}
	return nil
}

// List returns the keys under prefix (for tests and tools; it reads every
// page).
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	var all []string
	err := s.ListPages(ctx, prefix, func(keys []string) error {
		all = append(all, keys...)
		return nil
	})
	return all, err
}

// Delete deletes up to 1,000 objects in one request (missing ones are no
// error).
func (s *Store) Delete(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	ids := make([]types.ObjectIdentifier, len(keys))
	for k := range keys {
		ids[k] = types.ObjectIdentifier{Key: &keys[k]}
	}
	out, err := s.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &s.bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
	if err != nil {
		return fmt.Errorf("blob: delete %d objects from %s: %w", len(keys), keys[0], err)
	}
	if len(out.Errors) > 0 {
		e := out.Errors[0]
		return fmt.Errorf("blob: delete %s: %s %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
	}
	return nil
}

// PresignPut returns a URL that lets its holder PUT one object at key
// (any content type) until ttl passes.
func (s *Store) PresignPut(ctx context.Context, key string, ttl time.Duration) (string, error) {
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("blob: presign %s: %w", key, err)
	}
	return req.URL, nil
}

// PresignGet returns a URL that lets its holder GET the object at key
// until ttl passes.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("blob: presign %s: %w", key, err)
	}
	return req.URL, nil
}

// CheckBucket verifies that the bucket exists and the credentials can reach
// it.
func (s *Store) CheckBucket(ctx context.Context) error {
	if _, err := s.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return fmt.Errorf("blob: bucket %q: %w", s.bucket, err)
	}
	return nil
}

// EnsureBucket creates the bucket if it does not exist (dev stacks and
// tests; production buckets are provisioned by operators).
func (s *Store) EnsureBucket(ctx context.Context) error {
	if s.CheckBucket(ctx) == nil {
		return nil
	}
	_, err := s.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.bucket})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("blob: create bucket %q: %w", s.bucket, err)
	}
	return nil
}

func (s *Store) wrap(op, key string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var api smithy.APIError
	if errors.As(err, &nsk) || errors.As(err, &nf) || (errors.As(err, &api) && api.ErrorCode() == "NotFound") {
		return fmt.Errorf("blob: %s %s: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("blob: %s %s: %w", op, key, err)
}
