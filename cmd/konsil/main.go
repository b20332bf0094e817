// Command konsil is the Konsil video-consultation server.
//
//	konsil serve                      run the server (defaults work on localhost)
//	konsil rooms create|list|delete   manage rooms against a running server or a local store
//	konsil users create|list          a practice's first setup link, its users (local store)
//	konsil keys list|rotate           the server's own secrets (the key file)
//
// Every flag has a KONSIL_* environment variable; `konsil serve -h` lists them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "konsil:", err)
		}
		os.Exit(2)
	}
}

var errUsage = errors.New("usage")

const usage = `usage: konsil <command> [flags]

commands:
  serve                 run the server (http://localhost:8080, store in ./data)
  rooms create          create a room and print its participants' links
  rooms list            list rooms
  rooms delete ID       delete a room and end its sessions
  users create          print a practice's first setup link (server stopped)
  users list            list a practice's workspace users (server stopped)
  keys list             list the server's secrets by fingerprint
  keys rotate NAME      replace a server secret; the old one stays accepted for a grace period
  version               print the version

Run "konsil <command> -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "rooms":
		return rooms(ctx, args[1:], stdout, stderr)
	case "users":
		return users(ctx, args[1:], stdout, stderr)
	case "keys":
		return keys(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "konsil", version)
		return nil
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "konsil: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"
