// Package objectstore is the object_store built-in tool: get, put, list
// and delete objects in an S3-compatible bucket a project's connector
// names, with the credential of the user the run acts for. The AWS SDK is
// a dependency of this package only.
package objectstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/engram-run/engram"
	"github.com/engram-run/engram/tool"
)

// Name is the tool's name.
const Name = "object_store"

// Limits.
const (
	// DefaultMaxGetBytes is how much of an object get puts in front of the
	// model; the rest is cut, with a note.
	DefaultMaxGetBytes = 1 << 20
	// DefaultMaxPutBytes bounds the body put may write.
	DefaultMaxPutBytes = 1 << 20
	// DefaultListKeys and MaxListKeys bound the keys one list returns (S3
	// itself returns at most 1000).
	DefaultListKeys = 100
	MaxListKeys     = 1000
	// DefaultTimeout bounds one call, retries included.
	DefaultTimeout = 30 * time.Second
)

// ObjectStore is the object_store tool. One value serves every agent:
// each call uses the connector its agent's tool spec names.
type ObjectStore struct {
	Connectors engram.Connectors
	// MaxGetBytes, MaxPutBytes and Timeout replace the defaults when set.
	MaxGetBytes int
	MaxPutBytes int
	Timeout     time.Duration
}

// Tool returns the object_store tool over conns.
func Tool(conns engram.Connectors) engram.Tool { return &ObjectStore{Connectors: conns} }

// ConnectorKinds implements tool.ConnectorTool.
func (*ObjectStore) ConnectorKinds() []string { return []string{engram.ConnectorS3} }

// Spec implements engram.Tool.
func (*ObjectStore) Spec() engram.ToolSpec {
	return engram.ToolSpec{
		Type: engram.ToolBuiltin,
		Name: Name,
		// A call a crash left unfinished may simply be made again:
		// get, list and delete are idempotent, and put writes the same body again.
		Idempotent: true,
		Description: "Reads and writes objects in the storage bucket this tool is connected to. " +
			"op get reads an object (text, or base64 for binary; large objects are cut), put writes body as the object, " +
			"list lists keys under prefix (max_keys at most 1000; pass start_after = the last key to see more), delete removes an object.",
		Parameters: json.RawMessage(`{"type":"object","properties":{` +
			`"op":{"type":"string","enum":["get","put","list","delete"]},` +
			`"key":{"type":"string","description":"the object's key (get, put, delete)"},` +
			`"prefix":{"type":"string","description":"list only keys starting with this"},` +
			`"start_after":{"type":"string","description":"list keys after this one"},` +
			`"max_keys":{"type":"integer","minimum":1,"maximum":1000},` +
			`"body":{"type":"string","description":"the text to write (put)"},` +
			`"content_type":{"type":"string","description":"the object's media type (put); default text/plain; charset=utf-8"}},` +
			`"required":["op"],"additionalProperties":false}`),
	}
}

// config is an s3 connector's settings (see docs/tools.md).
type config struct {
	Endpoint  string `json:"endpoint"`
	Region    string `json:"region"`
	Bucket    string `json:"bucket"`
	PathStyle bool   `json:"path_style"`
	// Prefix restricts the tool to keys under it: the model's keys are
	// relative to it and cannot leave it.
	Prefix       string `json:"prefix"`
	AllowPrivate bool   `json:"allow_private"`
	// name is the connector's, for messages.
	name string
}

type arguments struct {
	Op          string `json:"op"`
	Key         string `json:"key"`
	Prefix      string `json:"prefix"`
	StartAfter  string `json:"start_after"`
	MaxKeys     int    `json:"max_keys"`
	Body        string `json:"body"`
	ContentType string `json:"content_type"`
}

// Call implements engram.Tool.
func (o *ObjectStore) Call(ctx context.Context, call engram.ToolCall) (string, error) {
	var args arguments
	dec := json.NewDecoder(bytes.NewReader(call.Arguments))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&args); err != nil {
		return "", engram.Errorf(engram.EInvalid, `%s: arguments must be a JSON object like {"op":"get","key":"notes/today.txt"}: %v`, Name, err)
	}
	switch args.Op {
	case "get", "put", "delete":
		if args.Key == "" {
			return "", engram.Errorf(engram.EInvalid, "%s: op %s needs a key", Name, args.Op)
		}
	case "list":
	default:
		return "", engram.Errorf(engram.EInvalid, "%s: op must be get, put, list or delete, not %q", Name, args.Op)
	}
	if args.Op == "put" && len(args.Body) > o.maxPut() {
		return "", engram.Errorf(engram.EInvalid, "%s: body is %d bytes; put takes at most %d", Name, len(args.Body), o.maxPut())
	}
	if args.MaxKeys < 0 || args.MaxKeys > MaxListKeys {
		return "", engram.Errorf(engram.EInvalid, "%s: max_keys must be between 1 and %d", Name, MaxListKeys)
	}
	rc, err := tool.ResolveConnector(ctx, o.Connectors, Name, call, o.ConnectorKinds()...)
	if err != nil {
		return "", err
	}
	var cfg config
	if err := json.Unmarshal(rc.Connector.Config, &cfg); err != nil {
		return "", engram.Errorf(engram.EInvalid, "%s: connector %q has an unreadable config: %v", Name, rc.Connector.Name, err)
	}
	cfg.name = rc.Connector.Name
	if cfg.Bucket == "" {
		return "", engram.Errorf(engram.EInvalid, "%s: connector %q names no bucket", Name, rc.Connector.Name)
	}
	for _, k := range []string{args.Key, args.Prefix, args.StartAfter} {
		if err := checkKey(cfg, k); err != nil {
			return "", err
		}
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc, err := endpointClient(cfg, timeout)
	if err != nil {
		return "", err
	}
	defer hc.CloseIdleConnections()
	c := &client{s3: o.client(cfg, rc.Secret, hc), cfg: cfg, maxGet: o.maxGet()}
	var out any
	switch args.Op {
	case "get":
		out, err = c.get(ctx, args)
	case "put":
		out, err = c.put(ctx, args)
	case "list":
		out, err = c.list(ctx, args)
	case "delete":
		out, err = c.delete(ctx, args)
	}
	if err != nil {
		return "", o.toModel(ctx, cfg, args, err, timeout)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", engram.Errorf(engram.EInternal, "%s: encoding the result: %v", Name, err)
	}
	return string(b), nil
}

func (o *ObjectStore) maxGet() int {
	if o.MaxGetBytes > 0 {
		return o.MaxGetBytes
	}
	return DefaultMaxGetBytes
}

func (o *ObjectStore) maxPut() int {
	if o.MaxPutBytes > 0 {
		return o.MaxPutBytes
	}
	return DefaultMaxPutBytes
}

// client builds an S3 client from the connector alone: its static keys
// (or none, for a public bucket), never the environment's, the shared
// files' or the instance's credentials.
func (o *ObjectStore) client(cfg config, secret engram.Secret, hc *http.Client) *s3.Client {
	opts := s3.Options{
		Region:       cfg.Region,
		UsePathStyle: cfg.PathStyle,
		Credentials:  aws.AnonymousCredentials{},
		// Only what S3 requires: several S3-compatible stores refuse
		// the SDK's default checksum trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           2,
		HTTPClient:                 hc,
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	if id := secret.Fields["access_key_id"]; id != "" {
		opts.Credentials = credentials.NewStaticCredentialsProvider(id, secret.Fields["secret_access_key"], secret.Fields["session_token"])
	}
	return s3.New(opts)
}

// endpointClient reaches the connector's endpoint through http_request's
// address guard (tool.GuardedTransport): public addresses only, unless the
// connector says allow_private, which lets its endpoint's host and port
// (only those) be private.
func endpointClient(cfg config, timeout time.Duration) (*http.Client, error) {
	private := ""
	if cfg.AllowPrivate && cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" {
			return nil, engram.Errorf(engram.EInvalid, "%s: connector %q has an invalid endpoint %q", Name, cfg.name, cfg.Endpoint)
		}
		private = tool.HostPort(u)
	}
	return &http.Client{Transport: tool.GuardedTransport(timeout, private)}, nil
}

// checkKey refuses a key that could leave the connector's prefix once a
// server or proxy on the way normalises the path.
func checkKey(cfg config, key string) error {
	if cfg.Prefix == "" || key == "" {
		return nil
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == ".." || seg == "." {
			return engram.Errorf(engram.EInvalid, "%s: key %q has a %q segment; keys here are relative to this tool's folder and cannot leave it", Name, key, seg)
		}
	}
	return nil
}

// client is one call's S3 client and connector settings.
type client struct {
	s3     *s3.Client
	cfg    config
	maxGet int
}

// full is the bucket key for the model's key: under the connector's prefix.
func (c *client) full(key string) string { return c.cfg.Prefix + key }

// relative is the key as the model knows it.
func (c *client) relative(key string) string { return strings.TrimPrefix(key, c.cfg.Prefix) }

type getResult struct {
	Key          string `json:"key"`
	ContentType  string `json:"content_type,omitempty"`
	Size         int64  `json:"size"`
	LastModified string `json:"last_modified,omitempty"`
	// Encoding is "base64" when the body is not UTF-8 text.
	Encoding  string `json:"encoding,omitempty"`
	Body      string `json:"body"`
	Truncated bool   `json:"truncated"`
	Note      string `json:"note,omitempty"`
}

func (c *client) get(ctx context.Context, args arguments) (*getResult, error) {
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.cfg.Bucket, Key: aws.String(c.full(args.Key))})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, int64(c.maxGet)+1))
	if err != nil {
		return nil, err
	}
	res := &getResult{Key: args.Key, ContentType: aws.ToString(out.ContentType), Size: aws.ToInt64(out.ContentLength)}
	if out.LastModified != nil {
		res.LastModified = out.LastModified.UTC().Format(time.RFC3339)
	}
	if len(body) > c.maxGet {
		body = body[:c.maxGet]
		res.Truncated = true
		res.Note = fmt.Sprintf("only the first %d bytes of the object are shown", c.maxGet)
	}
	if text := validPrefix(body, res.Truncated); utf8.Valid(text) {
		res.Body = string(text)
	} else {
		res.Encoding, res.Body = "base64", base64.StdEncoding.EncodeToString(body)
	}
	return res, nil
}

// validPrefix drops a rune the cut split in two, so cut text stays text.
func validPrefix(b []byte, cut bool) []byte {
	if !cut {
		return b
	}
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return b
		}
		b = b[:len(b)-1]
	}
	return b
}

type putResult struct {
	Key  string `json:"key"`
	Size int    `json:"size"`
	ETag string `json:"etag,omitempty"`
}

func (c *client) put(ctx context.Context, args arguments) (*putResult, error) {
	ct := args.ContentType
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	out, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.cfg.Bucket, Key: aws.String(c.full(args.Key)),
		Body: strings.NewReader(args.Body), ContentLength: aws.Int64(int64(len(args.Body))), ContentType: &ct})
	if err != nil {
		return nil, err
	}
	return &putResult{Key: args.Key, Size: len(args.Body), ETag: strings.Trim(aws.ToString(out.ETag), `"`)}, nil
}

type listEntry struct {
	Key          string `json:"key"`
	Size         int64  `json:"size"`
	LastModified string `json:"last_modified,omitempty"`
}

type listResult struct {
	Prefix    string      `json:"prefix,omitempty"`
	Keys      []listEntry `json:"keys"`
	Truncated bool        `json:"truncated"`
	Note      string      `json:"note,omitempty"`
}

func (c *client) list(ctx context.Context, args arguments) (*listResult, error) {
	max := args.MaxKeys
	if max == 0 {
		max = DefaultListKeys
	}
	in := &s3.ListObjectsV2Input{Bucket: &c.cfg.Bucket, Prefix: aws.String(c.full(args.Prefix)), MaxKeys: aws.Int32(int32(max))}
	if args.StartAfter != "" {
		in.StartAfter = aws.String(c.full(args.StartAfter))
	}
	out, err := c.s3.ListObjectsV2(ctx, in)
	if err != nil {
		return nil, err
	}
	res := &listResult{Prefix: args.Prefix, Keys: []listEntry{}, Truncated: aws.ToBool(out.IsTruncated)}
	for _, o := range out.Contents {
		if len(res.Keys) == max {
			// A server that returns more than asked is cut here.
			res.Truncated = true
			break
		}
		e := listEntry{Key: c.relative(aws.ToString(o.Key)), Size: aws.ToInt64(o.Size)}
		if o.LastModified != nil {
			e.LastModified = o.LastModified.UTC().Format(time.RFC3339)
		}
		res.Keys = append(res.Keys, e)
	}
	if res.Truncated && len(res.Keys) > 0 {
		res.Note = fmt.Sprintf("more keys follow: list again with start_after %q", res.Keys[len(res.Keys)-1].Key)
	}
	return res, nil
}

type deleteResult struct {
	Key     string `json:"key"`
	Deleted bool   `json:"deleted"`
}

func (c *client) delete(ctx context.Context, args arguments) (*deleteResult, error) {
	if _, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &c.cfg.Bucket, Key: aws.String(c.full(args.Key))}); err != nil {
		return nil, err
	}
	return &deleteResult{Key: args.Key, Deleted: true}, nil
}

// toModel turns what the storage service said into a tool result the model
// reads: a missing object or bucket and a refused request are facts about
// the world it can act on, and so is an unreachable service. Only the run
// being cancelled is not the call's to report.
func (o *ObjectStore) toModel(ctx context.Context, cfg config, args arguments, err error, timeout time.Duration) error {
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ctx.Err()
	}
	var noKey *types.NoSuchKey
	var noBucket *types.NoSuchBucket
	var api smithy.APIError
	switch {
	case errors.As(err, &noKey):
		return engram.Errorf(engram.EInvalid, "%s: no object has the key %q", Name, args.Key)
	case errors.As(err, &noBucket):
		return engram.Errorf(engram.EInvalid, "%s: the bucket %q does not exist", Name, cfg.Bucket)
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return engram.Errorf(engram.EInvalid, "%s: no object has the key %q", Name, args.Key)
		case "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "ExpiredToken", "InvalidToken":
			return engram.Errorf(engram.EForbidden, "%s: the storage service refused %s: %s: %s", Name, args.Op, api.ErrorCode(), api.ErrorMessage())
		}
		return engram.Errorf(engram.EInvalid, "%s: the storage service refused %s: %s: %s", Name, args.Op, api.ErrorCode(), api.ErrorMessage())
	case errors.Is(err, tool.ErrForbiddenAddress):
		return engram.Errorf(engram.EForbidden, "%s: the storage endpoint %s is not a public address, and connector %q does not allow private ones (allow_private)", Name, cfg.Endpoint, cfg.name)
	case errors.Is(err, context.DeadlineExceeded):
		return engram.Errorf(engram.EInvalid, "%s: %s took longer than %s and was abandoned", Name, args.Op, timeout)
	}
	return engram.Errorf(engram.EInvalid, "%s: cannot reach the storage service: %v", Name, err)
}
