package store

import (
	"context"
	"time"
)

// Device is a browser a practice user has logged in from. The browser
// keeps a random token in a cookie; the store keeps its hash, per user.
// A device that is not Approved gets no practice data until an approved
// device of the same user, or an admin, approves it with the Code the
// new browser shows.
type Device struct {
	ID       string
	TenantID string
	UserID   string
	Hash     []byte
	// Label names the browser and system ("Firefox on Windows"), from
	// the User-Agent at first login.
	Label string
	// Code is the confirmation code a pending device shows; empty once
	// approved. CodeFailures counts wrong codes typed for it.
	Code         string
	CodeFailures int
	Approved     bool
	ApprovedBy   string
	CreatedAt    time.Time
	ApprovedAt   time.Time
	LastLogin    time.Time
}

// PracticeSettings are a practice's choices. The zero value is the
// default: new devices need approval.
type PracticeSettings struct {
	// DeviceApprovalOff lets any browser in with the password alone.
	DeviceApprovalOff bool
}

// DeviceStore keeps practice users' devices and practice settings.
type DeviceStore interface {
	// CreateDevice stores a new device; ErrExists when the id, or the
	// hash for that user, is taken.
	CreateDevice(ctx context.Context, d Device) error
	GetDevice(ctx context.Context, id string) (Device, error)
	// DeviceByHash finds a user's device by its cookie's hash.
	DeviceByHash(ctx context.Context, userID string, hash []byte) (Device, error)
	// UpdateDevice replaces a device's record; its user and hash may not
	// change.
	UpdateDevice(ctx context.Context, d Device) error
	// ListDevices lists a tenant's devices, oldest first.
	ListDevices(ctx context.Context, tenantID string) ([]Device, error)
	// DeleteDevice removes a device and ends every login session made
	// on it; absent is no error.
	DeleteDevice(ctx context.Context, id string) error
	// DeleteStaleDevices removes devices still pending that were made
	// before pendingBefore, and devices not logged in from since
	// unusedBefore; it returns how many went.
	DeleteStaleDevices(ctx context.Context, pendingBefore, unusedBefore time.Time) (int, error)

	// Settings returns a practice's settings (the zero value when never
	// set).
	Settings(ctx context.Context, tenantID string) (PracticeSettings, error)
	// SetSettings stores them; ErrNotFound when the tenant does not
	// exist.
	SetSettings(ctx context.Context, tenantID string, s PracticeSettings) error
}
