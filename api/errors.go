package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/konsil/konsil/access"
	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/store"
)

// Error is a refusal with its HTTP status and the code callers branch on.
// Every handler error ends up as one of these (see status), so the JSON
// error shape is made in one place.
type Error struct {
	Status int
	Body   protocol.Error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Body.Code, e.Body.Message) }

func newError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Body: protocol.Error{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// Error codes of the REST API (docs/openapi.yaml).
const (
	CodeInvalidRequest = "invalid_request"
	CodeMalformedJSON  = "malformed_json"
	CodeBodyTooLarge   = "body_too_large"
	CodeUnauthorized   = "unauthorized"
	CodeForbidden      = "forbidden"
	CodeNotFound       = "not_found"
	CodeRoomNotOpen    = "room_not_open"
	CodeRoomClosed     = "room_closed"
	CodeRoomFull       = "room_full"
	CodeQuotaExceeded  = "quota_exceeded"
	CodeRateLimited    = "rate_limited"
	CodeInternal       = "internal"
)

var (
	errUnknownCredential = newError(http.StatusNotFound, CodeNotFound, "no room matches this link or code")
	errRoomFull          = newError(http.StatusConflict, CodeRoomFull, "the room is full")
	errRoomClosed        = newError(http.StatusForbidden, CodeRoomClosed, "the room's time window has ended")
	errUnauthorized      = newError(http.StatusUnauthorized, CodeUnauthorized, "a valid API key is required (Authorization: Bearer <key>)")
	errAdminOnly         = newError(http.StatusForbidden, CodeForbidden, "this endpoint needs the admin key")
	errTenantOnly        = newError(http.StatusForbidden, CodeForbidden, "this endpoint needs a tenant's API key")
)

func roomNotOpen(opens time.Time) *Error {
	e := newError(http.StatusForbidden, CodeRoomNotOpen, "the room opens at %s", opens.UTC().Format(time.RFC3339))
	t := opens.UTC()
	e.Body.OpensAt = &t
	return e
}

func quotaExceeded(resets time.Time) *Error {
	e := newError(http.StatusTooManyRequests, CodeQuotaExceeded, "the tenant's monthly call quota is used up until %s", resets.Format(time.RFC3339))
	e.Body.ResetsAt = &resets
	return e
}

func rateLimited(retry time.Duration) *Error {
	secs := int(retry.Seconds() + 0.999)
	if secs < 1 {
		secs = 1
	}
	e := newError(http.StatusTooManyRequests, CodeRateLimited, "too many failed attempts from this address; try again in %d s", secs)
	e.Body.RetryAfterSeconds = secs
	return e
}

// asError maps any error to the API's error: named errors of the packages
// below get their status, anything else is an internal error whose detail
// stays in the server log.
func asError(err error) (*Error, bool) {
	var e *Error
	var locked *practice.LockedError
	switch {
	case errors.As(err, &e):
		return e, true
	case errors.Is(err, access.ErrInvalidRoom), errors.Is(err, access.ErrInvalidWindow):
		return newError(http.StatusBadRequest, CodeInvalidRequest, "%s", err.Error()), true
	case errors.Is(err, practice.ErrInvalid):
		return newError(http.StatusBadRequest, CodeInvalidRequest, "%s", err.Error()), true
	case errors.Is(err, practice.ErrBadLogin):
		return newError(http.StatusUnauthorized, CodeInvalidCredentials, "%s", err.Error()), true
	case errors.Is(err, practice.ErrNoSession):
		return newError(http.StatusUnauthorized, CodeUnauthorized, "log in to the workspace first"), true
	case errors.Is(err, practice.ErrDevicePending):
		return newError(http.StatusForbidden, CodeDevicePending, "%s", err.Error()), true
	case errors.Is(err, practice.ErrDeviceCode):
		e := newError(http.StatusBadRequest, CodeDeviceCode, "%s", err.Error())
		var dc *practice.DeviceCodeError
		if errors.As(err, &dc) {
			e.Body.AttemptsLeft = &dc.Left
		}
		return e, true
	case errors.Is(err, practice.ErrForbidden):
		return newError(http.StatusForbidden, CodeForbidden, "%s", err.Error()), true
	case errors.Is(err, practice.ErrSetupUsed):
		return newError(http.StatusGone, CodeSetupInvalid, "%s", err.Error()), true
	case errors.Is(err, practice.ErrEmailTaken):
		return newError(http.StatusConflict, CodeEmailTaken, "%s", err.Error()), true
	case errors.As(err, &locked):
		e := newError(http.StatusTooManyRequests, CodeLocked, "%s", err.Error())
		e.Body.RetryAfterSeconds = int(locked.RetryAfter.Seconds() + 0.999)
		return e, true
	case errors.Is(err, store.ErrNotFound):
		return newError(http.StatusNotFound, CodeNotFound, "not found"), true
	default:
		return newError(http.StatusInternalServerError, CodeInternal, "internal error"), false
	}
}
