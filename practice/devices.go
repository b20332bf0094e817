package practice

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/konsil/konsil/access"
	"github.com/konsil/konsil/store"
)

// Device approval (RED connect's rule): a browser a user has not logged
// in from before gets a session that sees nothing — no practice key, no
// appointments — until an approved browser of the same user, or a
// practice admin, approves it by typing the code the new browser shows.
// Typing the code, rather than clicking "yes", means the approver must
// see the new browser's screen (or hear its code from its user): a
// stolen password alone does not get a browser in.

// Errors of device approval.
var (
	// ErrDevicePending: this browser waits for approval.
	ErrDevicePending = errors.New("this browser waits for approval from one of your approved browsers or a practice admin")
	// ErrDeviceCode: the confirmation code does not match; the error is
	// a *DeviceCodeError.
	ErrDeviceCode = errors.New("the code does not match the one the new browser shows")
)

// DeviceCodeError is a wrong confirmation code: Left more wrong codes
// remove the pending browser (0: it was removed).
type DeviceCodeError struct{ Left int }

func (e *DeviceCodeError) Error() string {
	if e.Left == 0 {
		return fmt.Sprintf("%v; after %d wrong codes the new browser was removed and must log in again", ErrDeviceCode, maxCodeFailures)
	}
	return fmt.Sprintf("%v (%d attempts left)", ErrDeviceCode, e.Left)
}

// Is makes errors.Is(err, ErrDeviceCode) hold.
func (e *DeviceCodeError) Is(target error) bool { return target == ErrDeviceCode }

const (
	kindDevice = "device"
	// deviceCodeDigits is the length of a pending device's code.
	deviceCodeDigits = 6
	// maxCodeFailures wrong codes remove the pending device: its browser
	// must log in again and gets a new code.
	maxCodeFailures = 5
	// PendingDeviceTTL is how long a device may wait for approval before
	// retention removes it; UnusedDeviceTTL how long an approved device
	// stays without a login.
	PendingDeviceTTL = 24 * time.Hour
	UnusedDeviceTTL  = 180 * 24 * time.Hour
	maxLabel         = 60
)

// Browser is what a login knows of the browser: the value of its device
// cookie ("" when it has none) and its User-Agent.
type Browser struct {
	Token     string
	UserAgent string
}

// DeviceView is a device as the API shows it. Code is set only on the
// pending device's own session: the approver must read it from there.
type DeviceView struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id,omitempty"`
	UserName  string    `json:"user_name,omitempty"`
	Label     string    `json:"label"`
	Approved  bool      `json:"approved"`
	Code      string    `json:"code,omitempty"`
	Current   bool      `json:"current,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	LastLogin time.Time `json:"last_login,omitzero"`
}

// Settings are a practice's choices as the API shows them.
type Settings struct {
	// DeviceApproval: new browsers need approval (the default).
	DeviceApproval bool `json:"device_approval"`
}

// deviceOf finds or makes the user's device for this browser at login.
// trusted logins (a setup link) approve it. It returns the device and
// the cookie token to set ("" when the browser's own stays).
func (s *Service) deviceOf(ctx context.Context, u store.User, br Browser, trusted bool) (store.Device, string, error) {
	now := s.now().UTC()
	token := br.Token
	if _, err := decodeKey("device", token, 32); err == nil {
		d, err := s.store.DeviceByHash(ctx, u.ID, tokenHash(kindDevice, token))
		switch {
		case err == nil:
			d.LastLogin = now
			if trusted && !d.Approved {
				d.Approved, d.Code, d.ApprovedAt = true, "", now
			}
			return d, "", s.store.UpdateDevice(ctx, d)
		case !errors.Is(err, store.ErrNotFound):
			return store.Device{}, "", err
		}
		// A browser known for another user keeps its cookie.
	} else {
		if token, err = randomToken(32); err != nil {
			return store.Device{}, "", err
		}
	}
	id, err := access.NewID()
	if err != nil {
		return store.Device{}, "", err
	}
	d := store.Device{ID: id, TenantID: u.TenantID, UserID: u.ID, Hash: tokenHash(kindDevice, token),
		Label: deviceLabel(br.UserAgent), CreatedAt: now, LastLogin: now}
	if trusted {
		d.Approved, d.ApprovedAt = true, now
	} else if d.Code, err = deviceCode(); err != nil {
		return store.Device{}, "", err
	}
	if err := s.store.CreateDevice(ctx, d); err != nil {
		return store.Device{}, "", err
	}
	s.log.Info("practice device added", "tenant", u.TenantID, "user", u.ID, "device", d.ID, "approved", d.Approved)
	if token == br.Token {
		token = ""
	}
	return d, token, nil
}

// deviceCode is a random code of deviceCodeDigits digits.
func deviceCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("device code: %w", err)
	}
	return fmt.Sprintf("%0*d", deviceCodeDigits, n.Int64()), nil
}

// deviceLabel names a browser and system from a User-Agent, coarsely:
// enough to tell one's laptop from one's tablet, nothing more kept.
func deviceLabel(ua string) string {
	browser := "Browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"iPad", "iPadOS"}, {"iPhone", "iOS"}, {"Android", "Android"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	if system == "" {
		return browser
	}
	label := browser + " / " + system
	if len(label) > maxLabel {
		label = label[:maxLabel]
	}
	return label
}

// approvalOn tells whether the tenant wants new devices approved.
func (s *Service) approvalOn(ctx context.Context, tenantID string) (bool, error) {
	st, err := s.store.Settings(ctx, tenantID)
	if err != nil {
		return false, err
	}
	return !st.DeviceApprovalOff, nil
}

func deviceView(d store.Device, approved bool) DeviceView {
	v := DeviceView{ID: d.ID, UserID: d.UserID, Label: d.Label, Approved: approved,
		CreatedAt: d.CreatedAt, LastLogin: d.LastLogin}
	if !approved {
		v.Code = d.Code
	}
	return v
}

// Approved tells whether the session's browser may see practice data.
func (s Session) Approved() bool { return s.Device.Approved }

// Devices lists the devices the session may manage: the user's own, or
// for an admin every device of the practice.
func (s *Service) Devices(ctx context.Context, sess Session) ([]DeviceView, error) {
	ds, err := s.store.ListDevices(ctx, sess.TenantID())
	if err != nil {
		return nil, err
	}
	us, err := s.store.ListUsers(ctx, sess.TenantID())
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, u := range us {
		names[u.ID] = u.Name
	}
	on, err := s.approvalOn(ctx, sess.TenantID())
	if err != nil {
		return nil, err
	}
	out := []DeviceView{}
	for _, d := range ds {
		if d.UserID != sess.UserID() && sess.Role() != RoleAdmin {
			continue
		}
		v := deviceView(d, d.Approved || !on)
		v.Code = "" // only the pending browser itself shows its code
		v.UserName, v.Current = names[d.UserID], d.ID == sess.Device.ID
		out = append(out, v)
	}
	return out, nil
}

// manageable returns a device of the session's practice that the
// session may approve or revoke: its user's own, or any for an admin.
func (s *Service) manageable(ctx context.Context, sess Session, id string) (store.Device, error) {
	if id == "" || len(id) > 64 {
		return store.Device{}, store.ErrNotFound
	}
	d, err := s.store.GetDevice(ctx, id)
	if err != nil {
		return store.Device{}, err
	}
	if d.TenantID != sess.TenantID() {
		return store.Device{}, store.ErrNotFound
	}
	if d.UserID != sess.UserID() && sess.Role() != RoleAdmin {
		return store.Device{}, ErrForbidden
	}
	return d, nil
}

// ApproveDevice approves a pending device when code is the one it shows.
// Wrong codes count; after maxCodeFailures the device is removed and its
// browser has to log in again.
func (s *Service) ApproveDevice(ctx context.Context, sess Session, id, code string) (DeviceView, error) {
	if !sess.Approved() {
		return DeviceView{}, ErrDevicePending
	}
	d, err := s.manageable(ctx, sess, id)
	if err != nil {
		return DeviceView{}, err
	}
	if d.Approved {
		return deviceView(d, true), nil
	}
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != deviceCodeDigits || !access.Equal([]byte(code), []byte(d.Code)) {
		d.CodeFailures++
		if d.CodeFailures >= maxCodeFailures {
			if err := s.store.DeleteDevice(ctx, d.ID); err != nil {
				return DeviceView{}, err
			}
			s.log.Info("practice device removed after wrong codes", "tenant", d.TenantID, "device", d.ID)
			return DeviceView{}, &DeviceCodeError{Left: 0}
		}
		if err := s.store.UpdateDevice(ctx, d); err != nil {
			return DeviceView{}, err
		}
		return DeviceView{}, &DeviceCodeError{Left: maxCodeFailures - d.CodeFailures}
	}
	now := s.now().UTC()
	d.Approved, d.Code, d.CodeFailures, d.ApprovedBy, d.ApprovedAt = true, "", 0, sess.UserID(), now
	if err := s.store.UpdateDevice(ctx, d); err != nil {
		return DeviceView{}, err
	}
	s.log.Info("practice device approved", "tenant", d.TenantID, "user", d.UserID, "device", d.ID, "by", sess.UserID())
	return deviceView(d, true), nil
}

// RevokeDevice removes a device; every session made on it ends at once.
func (s *Service) RevokeDevice(ctx context.Context, sess Session, id string) error {
	if !sess.Approved() {
		return ErrDevicePending
	}
	d, err := s.manageable(ctx, sess, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteDevice(ctx, d.ID); err != nil {
		return err
	}
	s.log.Info("practice device revoked", "tenant", d.TenantID, "user", d.UserID, "device", d.ID, "by", sess.UserID())
	return nil
}

// Settings returns the practice's settings.
func (s *Service) Settings(ctx context.Context, sess Session) (Settings, error) {
	on, err := s.approvalOn(ctx, sess.TenantID())
	return Settings{DeviceApproval: on}, err
}

// SetSettings changes the practice's settings (admins only).
func (s *Service) SetSettings(ctx context.Context, sess Session, st Settings) (Settings, error) {
	if sess.Role() != RoleAdmin {
		return Settings{}, ErrForbidden
	}
	if err := s.store.SetSettings(ctx, sess.TenantID(), store.PracticeSettings{DeviceApprovalOff: !st.DeviceApproval}); err != nil {
		return Settings{}, err
	}
	s.log.Info("practice settings changed", "tenant", sess.TenantID(), "device_approval", st.DeviceApproval, "by", sess.UserID())
	return st, nil
}

// DeleteStaleDevices is retention for devices: pending ones older than
// PendingDeviceTTL, approved ones unused for UnusedDeviceTTL.
func (s *Service) DeleteStaleDevices(ctx context.Context) (int, error) {
	now := s.now()
	return s.store.DeleteStaleDevices(ctx, now.Add(-PendingDeviceTTL), now.Add(-UnusedDeviceTTL))
}
