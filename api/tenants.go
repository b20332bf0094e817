package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/konsil/konsil/access"
	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/store"
)

const (
	maxTenantName = 128
	// maxQuota keeps the quota a plausible monthly number.
	maxQuota = 10_000_000
)

func validateTenant(req protocol.TenantRequest) error {
	if req.Name == "" {
		return newError(http.StatusBadRequest, CodeInvalidRequest, "name is required")
	}
	if err := access.ValidateLabel(req.Name, maxTenantName); err != nil {
		return newError(http.StatusBadRequest, CodeInvalidRequest, "name: %v", err)
	}
	if req.MonthlyCallQuota < 0 || req.MonthlyCallQuota > maxQuota {
		return newError(http.StatusBadRequest, CodeInvalidRequest, "monthly_call_quota must be between 0 (none) and %d", maxQuota)
	}
	return nil
}

// CreateTenant creates a tenant.
func (s *Service) CreateTenant(ctx context.Context, req protocol.TenantRequest) (protocol.Tenant, error) {
	if err := validateTenant(req); err != nil {
		return protocol.Tenant{}, err
	}
	id, err := access.NewID()
	if err != nil {
		return protocol.Tenant{}, err
	}
	t := store.Tenant{ID: id, Name: req.Name, MonthlyCallQuota: req.MonthlyCallQuota, CreatedAt: s.now().UTC()}
	if err := s.store.CreateTenant(ctx, t); err != nil {
		return protocol.Tenant{}, fmt.Errorf("create tenant: %w", err)
	}
	return s.tenantView(ctx, t)
}

// UpdateTenant changes a tenant's name and quota.
func (s *Service) UpdateTenant(ctx context.Context, id string, req protocol.TenantRequest) (protocol.Tenant, error) {
	if err := validateTenant(req); err != nil {
		return protocol.Tenant{}, err
	}
	t, err := s.store.GetTenant(ctx, id)
	if err != nil {
		return protocol.Tenant{}, err
	}
	t.Name, t.MonthlyCallQuota = req.Name, req.MonthlyCallQuota
	if err := s.store.UpdateTenant(ctx, t); err != nil {
		return protocol.Tenant{}, err
	}
	return s.tenantView(ctx, t)
}

// Tenant returns one tenant with this month's call count.
func (s *Service) Tenant(ctx context.Context, id string) (protocol.Tenant, error) {
	t, err := s.store.GetTenant(ctx, id)
	if err != nil {
		return protocol.Tenant{}, err
	}
	return s.tenantView(ctx, t)
}

// Tenants lists all tenants.
func (s *Service) Tenants(ctx context.Context) ([]protocol.Tenant, error) {
	ts, err := s.store.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.Tenant, 0, len(ts))
	for _, t := range ts {
		v, err := s.tenantView(ctx, t)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Service) tenantView(ctx context.Context, t store.Tenant) (protocol.Tenant, error) {
	n, err := s.store.CallsInMonth(ctx, t.ID, store.Month(s.now()))
	if err != nil {
		return protocol.Tenant{}, err
	}
	return protocol.Tenant{ID: t.ID, Name: t.Name, MonthlyCallQuota: t.MonthlyCallQuota,
		CallsThisMonth: n, CreatedAt: t.CreatedAt}, nil
}

// TenantRoomIDs lists every room id of a tenant, for ending live sessions
// before the tenant is deleted.
func (s *Service) TenantRoomIDs(ctx context.Context, id string) ([]string, error) {
	rs, err := s.store.ListRooms(ctx, id, timeZero, timeZero)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids, nil
}

// DeleteTenant removes a tenant with its rooms, codes, keys and counts.
func (s *Service) DeleteTenant(ctx context.Context, id string) error {
	return s.store.DeleteTenant(ctx, id)
}

// CreateKey makes an API key for a tenant (or an admin key for tenantID
// ""), stores its hash and returns it in clear, the only time it is shown.
func (s *Service) CreateKey(ctx context.Context, tenantID string) (protocol.APIKey, error) {
	if tenantID != "" {
		if _, err := s.store.GetTenant(ctx, tenantID); err != nil {
			return protocol.APIKey{}, err
		}
	}
	secret, err := access.NewAPIKey()
	if err != nil {
		return protocol.APIKey{}, err
	}
	id, err := access.NewID()
	if err != nil {
		return protocol.APIKey{}, err
	}
	k := store.APIKey{ID: id, TenantID: tenantID, Hash: s.hasher.Hash(access.KindAPIKey, secret),
		Prefix: secret[:8], CreatedAt: s.now().UTC()}
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return protocol.APIKey{}, fmt.Errorf("create key: %w", err)
	}
	v := keyView(k)
	v.Secret = secret
	return v, nil
}

// Keys lists a tenant's keys without their secrets.
func (s *Service) Keys(ctx context.Context, tenantID string) ([]protocol.APIKey, error) {
	if _, err := s.store.GetTenant(ctx, tenantID); err != nil {
		return nil, err
	}
	ks, err := s.store.ListAPIKeys(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.APIKey, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyView(k))
	}
	return out, nil
}

// RevokeKey deletes a tenant's key.
func (s *Service) RevokeKey(ctx context.Context, tenantID, id string) error {
	return s.store.DeleteAPIKey(ctx, tenantID, id)
}

func keyView(k store.APIKey) protocol.APIKey {
	return protocol.APIKey{ID: k.ID, TenantID: k.TenantID, Prefix: k.Prefix, CreatedAt: k.CreatedAt}
}

// Authenticate resolves an API key.
func (s *Service) Authenticate(ctx context.Context, key string) (store.APIKey, error) {
	if key == "" || len(key) > 128 {
		return store.APIKey{}, errUnauthorized
	}
	for i, h := range s.hasher.Hashes(access.KindAPIKey, key) {
		k, err := s.store.APIKeyByHash(ctx, h)
		if err != nil || !access.Equal(k.Hash, h) {
			continue
		}
		if i > 0 {
			// Found under a retired pepper: move the key to the current
			// one, so it outlives the old pepper's grace period. A failure
			// only means the next use tries again.
			if err := s.store.RehashAPIKey(ctx, k.ID, h, s.hasher.Hash(access.KindAPIKey, key)); err == nil {
				k.Hash = s.hasher.Hash(access.KindAPIKey, key)
			}
		}
		return k, nil
	}
	return store.APIKey{}, errUnauthorized
}

// Bootstrap is what a first start creates: an admin key and a default
// tenant with its key, shown once.
type Bootstrap struct {
	AdminKey  string
	TenantID  string
	TenantKey string
}

// DefaultTenantName names the tenant a first start creates.
const DefaultTenantName = "default"

// EnsureBootstrap creates the admin key and the default tenant when the
// store has no admin key yet. It returns nil when there was nothing to do.
func (s *Service) EnsureBootstrap(ctx context.Context) (*Bootstrap, error) {
	admins, err := s.store.ListAPIKeys(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if len(admins) > 0 {
		return nil, nil
	}
	admin, err := s.CreateKey(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	t, err := s.CreateTenant(ctx, protocol.TenantRequest{Name: DefaultTenantName})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	tk, err := s.CreateKey(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return &Bootstrap{AdminKey: admin.Secret, TenantID: t.ID, TenantKey: tk.Secret}, nil
}

// TenantByName finds a tenant by its name, for the local `konsil rooms`.
func (s *Service) TenantByName(ctx context.Context, name string) (string, error) {
	ts, err := s.store.ListTenants(ctx)
	if err != nil {
		return "", err
	}
	for _, t := range ts {
		if t.Name == name {
			return t.ID, nil
		}
	}
	return "", fmt.Errorf("tenant %q: %w", name, store.ErrNotFound)
}
