package engram

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in http/errors.go; the
// codes are what callers branch on, the message is for people.
const (
	EInvalid         = "invalid_request"  // 400: bad JSON, bad field
	EUnauthorized    = "unauthorized"     // 401: missing or bad key
	EForbidden       = "forbidden"        // 403: key lacks the role
	ENotFound        = "not_found"        // 404: absent or another project's
	EConflict        = "conflict"         // 409: state does not allow it
	ETooLarge        = "too_large"        // 413: body over the limit
	EUnprocessable   = "unprocessable"    // 422: well-formed but unusable
	ERateLimited     = "rate_limited"     // 429
	EInternal        = "internal"         // 500
	EUpstream        = "upstream_error"   // 502: the provider failed
	EUnavailable     = "unavailable"      // 503
	EUpstreamTimeout = "upstream_timeout" // 504: the provider did not answer
	EUnsupported     = "unsupported"      // 400: valid OpenAI, not served here
)

// Error is the one error type of the domain. Param names the request field at
// fault, as OpenAI's error object does.
type Error struct {
	Code    string
	Message string
	Param   string
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("engram %s: %s (param %s)", e.Code, e.Message, e.Param)
	}
	return fmt.Sprintf("engram %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ParamErrorf returns an *Error naming the request field at fault.
func ParamErrorf(code, param, format string, args ...any) *Error {
	return &Error{Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an *Error in err's chain, or EInternal.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of an *Error in err's chain; other errors
// are internal and their text is not shown to callers.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
