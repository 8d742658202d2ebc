package s3

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/minio/minio-go/v7"
)

// S3 error codes the driver reacts to.
const (
	codeNoSuchKey          = "NoSuchKey"
	codeNoSuchUpload       = "NoSuchUpload"
	codeNoSuchBucket       = "NoSuchBucket"
	codePreconditionFailed = "PreconditionFailed"
	// codeExistingObjectIsDirectory is versitygw's answer when a PUT races
	// the removal of an emptied directory on its posix backend.
	codeExistingObjectIsDirectory = "ExistingObjectIsDirectory"
	codeInvalidPart               = "InvalidPart"
	codeInvalidPartOrder          = "InvalidPartOrder"
	codeSHA256Mismatch            = "XAmzContentSHA256Mismatch"
)

// credentialCodes are the error codes of a server that does not accept
// the store's credentials or refuses them access (besides any HTTP 403).
// XAdminUserNotFound is versitygw's answer to an unknown access key.
var credentialCodes = []string{
	"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
	"InvalidToken", "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem",
	"XAdminUserNotFound",
}

// errCode returns the S3 error code of err, or "".
func errCode(err error) string {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.Code
	}
	return minio.ToErrorResponse(err).Code
}

// isMissing reports whether err says that an object or a multipart upload
// does not exist (not the bucket: that is a configuration error).
func isMissing(err error) bool {
	switch errCode(err) {
	case codeNoSuchKey, codeNoSuchUpload, "NotFound":
		return true
	case "":
		return minio.ToErrorResponse(err).StatusCode == 404
	}
	return false
}

// isPreconditionFailed reports whether a conditional request was refused.
func isPreconditionFailed(err error) bool {
	return errCode(err) == codePreconditionFailed || minio.ToErrorResponse(err).StatusCode == 412
}

// storageError turns an error of the S3 client into one of Berth's
// classes, prefixed by what failed: context errors keep their identity
// (errors.Is(err, context.Canceled)); everything else is ErrUnavailable.
// The message is rebuilt from the S3 error code and message with every
// credential scrubbed, so no secret can travel in an error.
func (s *Store) storageError(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, contextCause(err))
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == codeNoSuchBucket:
		return errdefs.Unavailable("%s: %s does not exist", what, s.cfg.describe())
	case slices.Contains(credentialCodes, resp.Code) || resp.StatusCode == 403:
		return errdefs.Unavailable("%s: %s refused the store's credentials (%s: %s)",
			what, s.cfg.describe(), resp.Code, s.scrub(resp.Message))
	case resp.Code != "":
		return errdefs.Unavailable("%s: %s: %s (%s, HTTP %d)", what, s.cfg.describe(), s.scrub(resp.Message), resp.Code, resp.StatusCode)
	default:
		return errdefs.Unavailable("%s: %s: %s", what, s.cfg.describe(), s.scrub(err.Error()))
	}
}

// contextCause returns the context error inside err, so the wrapped error
// says "context canceled" rather than a transport's long message.
func contextCause(err error) error {
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	return context.DeadlineExceeded
}

// scrub removes every credential of the store from msg.
func (s *Store) scrub(msg string) string {
	for _, secret := range s.secrets {
		if secret != "" {
			msg = strings.ReplaceAll(msg, secret, "REDACTED")
		}
	}
	return msg
}
