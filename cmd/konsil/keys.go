package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/konsil/konsil/keyring"
	"github.com/konsil/konsil/server"
	"github.com/konsil/konsil/store"
)

// keyFilePath is where the server secrets are: --key-file, or konsil.keys
// beside konsil.db.
func keyFilePath(dataDir, keyFile string) string {
	if keyFile != "" {
		return keyFile
	}
	return filepath.Join(dataDir, "konsil.keys")
}

// openLocalStore opens the store in dir and the server's secrets, as
// konsil serve would: commands that act on the store directly must hash
// and sign with the same keys.
func openLocalStore(ctx context.Context, dir, keyFile string) (store.Store, *keyring.Ring, error) {
	st, err := store.OpenBolt(filepath.Join(dir, "konsil.db"))
	if err != nil {
		return nil, nil, err
	}
	keys, err := server.LoadKeys(ctx, server.Config{DataDir: dir, KeyFile: keyFile, Getenv: os.Getenv}, st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, keys, nil
}

const keysUsage = `usage: konsil keys list|rotate NAME [--grace D] [--data DIR] [--key-file F]

The server's own secrets (docs/OPERATIONS.md, "Server secrets"): ` + "%s" + `.
rotate makes a new current key; the old one stays accepted for --grace
(default per key). A running server reads the key file at start: restart
it after a rotation.
`

// keys lists and rotates the server secrets in the key file.
func keys(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate") {
		fmt.Fprintf(stderr, keysUsage, strings.Join(keyring.Names(), ", "))
		return errUsage
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := envFlags{fs}
	data := f.String("data", "./data", "directory of the store; the key file is konsil.keys in it")
	keyFile := f.String("key-file", "", "file of the server secrets (default: konsil.keys in --data)")
	grace := fs.Duration("grace", -1, "rotate: how long the old key stays accepted (default: per key, see docs/OPERATIONS.md)")
	rest, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return errUsage
	}
	path := keyFilePath(*data, *keyFile)
	now := time.Now()
	if args[0] == "list" {
		if len(rest) > 0 {
			return fmt.Errorf("keys list takes no arguments, got %q", rest[0])
		}
		return listKeys(stdout, path, now)
	}
	if len(rest) != 1 {
		return fmt.Errorf("keys rotate takes one name (%s)", strings.Join(keyring.Names(), ", "))
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no key file at %s (konsil serve creates it on first start; or pass --key-file)", path)
	}
	k, err := keyring.Rotate(path, rest[0], *grace, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: new key %s in %s. Restart konsil serve to use it.\n", rest[0], keyring.Fingerprint(k.Secret), path)
	return nil
}

// listKeys prints each secret's generations by fingerprint, never the
// secret itself.
func listKeys(w io.Writer, path string, now time.Time) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no key file at %s (konsil serve creates it on first start; or pass --key-file)", path)
	}
	ring, err := keyring.Load(keyring.Options{Path: path, Getenv: os.Getenv, Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKEY\tSOURCE\tCREATED\tACCEPTED UNTIL")
	for _, name := range keyring.Names() {
		for i, k := range ring.Keys(name) {
			created, until := "-", "current"
			if !k.Created.IsZero() {
				created = k.Created.Format(time.RFC3339)
			}
			if i > 0 {
				until = "until removed"
			}
			if !k.Until.IsZero() {
				until = k.Until.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, keyring.Fingerprint(k.Secret), ring.Source(name), created, until)
		}
	}
	return tw.Flush()
}
