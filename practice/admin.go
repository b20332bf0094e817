package practice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/konsil/konsil/store"
)

// The practice admin's page: the users with their roles and e-mail
// addresses, role changes and removal, and the month's calls against the
// tenant's quota. The practice software's API keys are the tenant's keys
// of package api; the API checks RequireAdmin before it hands them out.

// ErrLastAdmin: the change would leave the practice without an admin,
// and nobody could manage its users any more.
var ErrLastAdmin = errors.New("the practice's last admin cannot be removed or given another role: make another user admin first")

// AdminUserView is a user as the admin page shows it.
type AdminUserView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

func adminUserView(u store.User) AdminUserView {
	return AdminUserView{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, CreatedAt: u.CreatedAt}
}

// RequireAdmin refuses (ErrForbidden) every session but an admin's.
func RequireAdmin(sess Session) error {
	if sess.Role() != RoleAdmin {
		return ErrForbidden
	}
	return nil
}

// keepAnAdmin is the store's check of role changes and removals.
func keepAnAdmin(after []store.User) error {
	for _, u := range after {
		if u.Role == RoleAdmin {
			return nil
		}
	}
	return ErrLastAdmin
}

// AdminUsers lists the practice's users with their e-mail addresses.
func (s *Service) AdminUsers(ctx context.Context, sess Session) ([]AdminUserView, error) {
	if err := RequireAdmin(sess); err != nil {
		return nil, err
	}
	us, err := s.store.ListUsers(ctx, sess.TenantID())
	if err != nil {
		return nil, err
	}
	out := make([]AdminUserView, 0, len(us))
	for _, u := range us {
		out = append(out, adminUserView(u))
	}
	return out, nil
}

// SetRole gives a user of the admin's practice a new role. The user's
// sessions go on with the new role from their next request. Demoting the
// last admin is ErrLastAdmin; another practice's user is not found.
func (s *Service) SetRole(ctx context.Context, sess Session, id, role string) (AdminUserView, error) {
	if err := RequireAdmin(sess); err != nil {
		return AdminUserView{}, err
	}
	if err := validRole(role); err != nil {
		return AdminUserView{}, err
	}
	u, err := s.store.SetUserRole(ctx, sess.TenantID(), id, role, keepAnAdmin)
	if err != nil {
		return AdminUserView{}, err
	}
	s.log.Info("practice user role changed", "tenant", u.TenantID, "user", u.ID, "role", u.Role, "by", sess.UserID())
	return adminUserView(u), nil
}

// RemoveUser deletes a user of the admin's practice and ends all its
// sessions at once; its login stops working. Appointments it holds keep
// its id (the workspace shows "removed user"). Removing the last admin
// is ErrLastAdmin; another practice's user is not found.
func (s *Service) RemoveUser(ctx context.Context, sess Session, id string) error {
	if err := RequireAdmin(sess); err != nil {
		return err
	}
	u, err := s.store.DeleteUser(ctx, sess.TenantID(), id, keepAnAdmin)
	if err != nil {
		return err
	}
	s.log.Info("practice user removed", "tenant", u.TenantID, "user", u.ID, "by", sess.UserID())
	return nil
}

// Usage is the practice's calls this month against its quota.
type Usage struct {
	// Month is "2006-01" in UTC, as the quota counts.
	Month string `json:"month"`
	Calls int    `json:"calls"`
	// Quota is the tenant's monthly call quota; 0 means none.
	Quota int `json:"quota"`
	// ResetsAt is when the count starts again (the next month, UTC).
	ResetsAt time.Time `json:"resets_at"`
}

// Usage returns the month's call count as the quota counts it: rooms
// that held a call, per UTC month (store.CountCall).
func (s *Service) Usage(ctx context.Context, sess Session) (Usage, error) {
	if err := RequireAdmin(sess); err != nil {
		return Usage{}, err
	}
	t, err := s.store.GetTenant(ctx, sess.TenantID())
	if err != nil {
		return Usage{}, fmt.Errorf("usage: %w", err)
	}
	now := s.now().UTC()
	month := store.Month(now)
	n, err := s.store.CallsInMonth(ctx, t.ID, month)
	if err != nil {
		return Usage{}, fmt.Errorf("usage: %w", err)
	}
	y, m, _ := now.Date()
	return Usage{Month: month, Calls: n, Quota: t.MonthlyCallQuota, ResetsAt: time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)}, nil
}
