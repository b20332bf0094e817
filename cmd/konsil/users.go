package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/keyring"
	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/store"
)

// `konsil users` works on the local store only: the workspace has no
// operator API, and the store is a bbolt file that one process holds at
// a time, so it runs while the server is stopped.

func users(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list") {
		fmt.Fprint(stderr, "usage: konsil users create|list --tenant ID [--data DIR]\n")
		return errUsage
	}
	fs := flag.NewFlagSet("users "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := envFlags{fs}
	data := f.String("data", "./data", "directory of the local store (the server must be stopped)")
	keyFile := f.String("key-file", "", "file of the server secrets (default: konsil.keys in --data)")
	tenant := fs.String("tenant", "", "practice (tenant) id; default: the default practice of the first start")
	role := fs.String("role", "", "create: the user's role: admin, clinician or assistant")
	public := f.String("public-url", "http://localhost:8080", "base URL of the printed link")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("users %s takes no arguments, got %q", args[0], fs.Arg(0))
	}
	if args[0] == "create" {
		// Checked before the store is opened: a typo should not need
		// the server stopped to be told.
		if err := checkRole(*role); err != nil {
			return err
		}
	}
	l, err := openLocalPractice(ctx, *data, *keyFile, *tenant)
	if err != nil {
		return err
	}
	defer l.st.Close()
	if args[0] == "create" {
		return l.create(ctx, stdout, *role, strings.TrimRight(*public, "/"))
	}
	return l.list(ctx, stdout)
}

func checkRole(role string) error {
	switch role {
	case practice.RoleAdmin, practice.RoleClinician, practice.RoleAssistant:
		return nil
	case "":
		return errors.New("users create needs --role: admin, clinician or assistant")
	}
	return fmt.Errorf("--role %q: the role must be admin, clinician or assistant", role)
}

// localPractice is the workspace's service on the local store.
type localPractice struct {
	st     store.Store
	svc    *practice.Service
	tenant store.Tenant
}

func openLocalPractice(ctx context.Context, dir, keyFile, tenantID string) (*localPractice, error) {
	st, keys, err := openLocalStore(ctx, dir, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w\n(konsil users needs the store to itself: stop konsil serve first, or use the setup link it printed at start)", err)
	}
	l, err := newLocalPractice(ctx, st, keys, tenantID)
	if err != nil {
		st.Close()
		return nil, err
	}
	return l, nil
}

func newLocalPractice(ctx context.Context, st store.Store, keys *keyring.Ring, tenantID string) (*localPractice, error) {
	rooms, err := api.NewService(ctx, api.ServiceConfig{Store: st, Keys: keys})
	if err != nil {
		return nil, err
	}
	if tenantID == "" {
		if tenantID, err = rooms.TenantByName(ctx, api.DefaultTenantName); err != nil {
			return nil, fmt.Errorf("%w (start konsil serve once: its first start creates the default practice; or pass --tenant)", err)
		}
	}
	t, err := st.GetTenant(ctx, tenantID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no practice (tenant) has the id %q", tenantID)
	}
	if err != nil {
		return nil, err
	}
	svc, err := practice.New(practice.Config{Store: st, Rooms: rooms, Key: keys.Current(keyring.PracticeKey)})
	if err != nil {
		return nil, err
	}
	return &localPractice{st: st, svc: svc, tenant: t}, nil
}

// create prints a one-time setup link. Only a practice without users
// can get one here: a later user's link must carry the practice key
// wrapped for them, which only the browser of a logged-in admin holds
// (docs/WORKSPACE.md, "First start and accounts"), so those are made in
// the workspace.
func (l *localPractice) create(ctx context.Context, w io.Writer, role string, base string) error {
	has, err := l.st.HasUsers(ctx, l.tenant.ID)
	if err != nil {
		return err
	}
	if has {
		return fmt.Errorf("practice %s already has users: an admin invites further users in the workspace (%s/practice/, \"Invite\"), since their link must carry the practice key, which only the practice's browsers hold", l.tenant.ID, base)
	}
	if role != practice.RoleAdmin {
		return fmt.Errorf("practice %s has no users yet: its first user must be an admin (--role admin), who names the practice and invites the others", l.tenant.ID)
	}
	token, expires, err := l.svc.NewSetupLink(ctx, l.tenant.ID, role, true, "", "")
	if err != nil {
		return fmt.Errorf("setup link: %w", err)
	}
	// Shown on stdout only: whoever opens it becomes the practice's
	// first admin.
	fmt.Fprintf(w, "One-time setup link for the first %s of practice %s, valid until %s:\n  %s/practice/#setup=%s\n",
		role, l.tenant.ID, expires.Local().Format(time.RFC3339), base, token)
	return nil
}

// list prints the practice's users. The e-mail addresses are the
// operator's own data here, on stdout, not in a log.
func (l *localPractice) list(ctx context.Context, w io.Writer) error {
	us, err := l.st.ListUsers(ctx, l.tenant.ID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tEMAIL\tCREATED")
	for _, u := range us {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.ID, u.Role, u.Email, u.CreatedAt.Local().Format(time.RFC3339))
	}
	return tw.Flush()
}
