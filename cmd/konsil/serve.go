package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/konsil/konsil/protocol"
	"github.com/konsil/konsil/server"
)

// envFlags registers flags whose defaults come from KONSIL_* variables.
type envFlags struct {
	fs *flag.FlagSet
}

func (e envFlags) env(name string) string {
	return "KONSIL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func (e envFlags) String(name, def, help string) *string {
	if v, ok := os.LookupEnv(e.env(name)); ok {
		def = v
	}
	return e.fs.String(name, def, help+" ($"+e.env(name)+")")
}

func (e envFlags) Duration(name string, def time.Duration, help string) *time.Duration {
	if v, ok := os.LookupEnv(e.env(name)); ok {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		} else {
			fmt.Fprintf(os.Stderr, "konsil: ignoring $%s=%q: %v\n", e.env(name), v, err)
		}
	}
	return e.fs.Duration(name, def, help+" ($"+e.env(name)+")")
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := envFlags{fs}
	addr := f.String("addr", "localhost:8080", "HTTP listen address")
	data := f.String("data", "./data", "directory of the embedded store")
	public := f.String("public-url", "", "public base URL of links, e.g. https://video.example.org (default: the request's host)")
	stun := f.String("stun-urls", "", "comma-separated STUN/TURN URLs handed to clients, e.g. stun:stun.example.org:3478")
	proxies := f.String("trusted-proxies", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed")
	logLevel := f.String("log-level", "info", "log level: debug, info, warn, error")
	retention := f.Duration("retention", 48*time.Hour, "how long room metadata is kept after its window ends")
	sessionTTL := f.Duration("session-ttl", 10*time.Minute, "how long a session token from /join may be used to connect")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log level %q: %w", *logLevel, err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, server.Config{
		DataDir: *data, PublicURL: *public, ICEServers: iceServers(*stun),
		Retention: *retention, SessionTTL: *sessionTTL, Logger: log,
		TrustedProxies: splitList(*proxies),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		srv.Shutdown(context.Background())
		return fmt.Errorf("listen: %w", err)
	}
	base := *public
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	if b := srv.Bootstrap; b != nil {
		// Shown once, on stdout, never logged: only the hashes are kept.
		fmt.Fprintf(stdout, `
First start: keys created. They are shown only now; store them safely.
  admin key (manages tenants):            %s
  tenant %q key (creates rooms):     %s

Create a room:  konsil rooms create --api-key %s

`, b.AdminKey, "default", b.TenantKey, b.TenantKey)
	}
	fmt.Fprintf(stdout, "Konsil is running on %s (Ctrl-C to stop)\n", base)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return <-errc
}

func splitList(list string) []string {
	var out []string
	for _, u := range strings.Split(list, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

func iceServers(list string) []protocol.ICEServer {
	urls := splitList(list)
	if len(urls) == 0 {
		return nil
	}
	return []protocol.ICEServer{{URLs: urls}}
}
