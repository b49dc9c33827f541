package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// OpenAI error types, as used in the "type" field of an error object.
const (
	ErrTypeInvalidRequest    = "invalid_request_error"
	ErrTypeAuthentication    = "authentication_error"
	ErrTypePermission        = "permission_error"
	ErrTypeNotFound          = "not_found_error"
	ErrTypeRateLimit         = "rate_limit_error"
	ErrTypeInsufficientQuota = "insufficient_quota"
	ErrTypeAPI               = "api_error"
	ErrTypeUnavailable       = "service_unavailable_error"
	ErrTypeTimeout           = "timeout_error"
)

// Error is an OpenAI-style error with the HTTP status it is sent with. It is
// what runtimes return for anything the client should see.
type Error struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d): %s", e.Type, e.Status, e.Message)
}

// Errorf builds an *Error. param may be empty.
func Errorf(status int, typ, param, format string, args ...any) *Error {
	e := &Error{Status: status, Type: typ, Message: fmt.Sprintf(format, args...)}
	if param != "" {
		e.Param = &param
	}
	return e
}

// WithCode sets the error's code field and returns e.
func (e *Error) WithCode(code string) *Error {
	e.Code = &code
	return e
}

// ErrorBody is the JSON document OpenAI servers send for an error.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// JSON returns the error as an OpenAI error document.
func (e *Error) JSON() []byte {
	b, _ := json.Marshal(ErrorBody{Error: e})
	return b
}

// AsError converts any error into an *Error: an *Error anywhere in the chain
// is returned as is; anything else becomes a 500 api_error whose message is
// err's text.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Errorf(http.StatusInternalServerError, ErrTypeAPI, "", "%s", err.Error())
}

// TypeForStatus returns the conventional OpenAI error type for an HTTP status.
func TypeForStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return ErrTypeAuthentication
	case status == http.StatusForbidden:
		return ErrTypePermission
	case status == http.StatusNotFound:
		return ErrTypeNotFound
	case status == http.StatusPaymentRequired:
		return ErrTypeInsufficientQuota
	case status == http.StatusTooManyRequests:
		return ErrTypeRateLimit
	case status == http.StatusServiceUnavailable:
		return ErrTypeUnavailable
	case status == http.StatusGatewayTimeout:
		return ErrTypeTimeout
	case status >= 400 && status < 500:
		return ErrTypeInvalidRequest
	}
	return ErrTypeAPI
}
