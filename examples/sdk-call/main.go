// Command sdk-call joins a Konsil consultation as a Go program, with the
// link a clinician sends (https://host/r/{token}#k={secret}) or a short
// code: it connects, checks the other side's DTLS fingerprint with the
// room secret, prints the other's name and chat, and says one line in the
// chat. It is the runnable example of docs/SDK.md.
//
//	sdk-call --name "Dr. Anna Berg" --say "Guten Tag" 'https://konsil.example/r/TOKEN#k=SECRET'
//	sdk-call --server https://konsil.example --code 123-456 --secret SECRET
//
// It prints one line per thing that happens: "connected", "peer name: …",
// "chat: …", "peer left". By default it says its line once connected and
// stays until the other leaves; --exit-after-chat leaves once a chat line
// arrived, and --reply says its line only in answer to the first one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/protocol"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk-call:", err)
		os.Exit(1)
	}
}

// config is what the command line asks for.
type config struct {
	server        string
	join          protocol.JoinRequest
	secret        []byte
	name, say     string
	reply         bool
	exitAfterChat bool
	loopback      bool
	timeout       time.Duration
}

func parseArgs(args []string) (config, error) {
	var c config
	var code, secret string
	fs := flag.NewFlagSet("sdk-call", flag.ContinueOnError)
	fs.StringVar(&c.server, "server", "", "server base URL (default: the link's origin)")
	fs.StringVar(&code, "code", "", "join with a short code instead of a link")
	fs.StringVar(&secret, "secret", "", "room secret (the link's k=) when joining with --code")
	fs.StringVar(&c.name, "name", "", "our display name, sent sealed to the other side")
	fs.StringVar(&c.say, "say", "", "a line to say in the chat")
	fs.BoolVar(&c.reply, "reply", false, "say the line only in answer to the first chat line")
	fs.BoolVar(&c.exitAfterChat, "exit-after-chat", false, "leave once a chat line arrived")
	fs.BoolVar(&c.loopback, "loopback", false, "use 127.0.0.1 only, no STUN/TURN (tests on one machine)")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case code != "" && fs.NArg() == 0:
		c.join.Code = code
	case code == "" && fs.NArg() == 1:
		token, server, k, err := parseLink(fs.Arg(0))
		if err != nil {
			return c, err
		}
		c.join.Token, secret = token, k
		if c.server == "" {
			c.server = server
		}
	default:
		return c, errors.New("give one link, or --code (with --server and --secret)")
	}
	if c.server == "" {
		return c, errors.New("--server is needed with --code")
	}
	// No secret, no call: the browser app refuses a link without one too,
	// rather than falling back to unencrypted chat and names.
	var err error
	if c.secret, err = e2ee.ParseSecret(secret); err != nil {
		return c, fmt.Errorf("room secret: %w", err)
	}
	return c, nil
}

// parseLink splits a room link into its token, the server's origin and
// the room secret of its fragment, which the server never sees.
func parseLink(link string) (token, server, secret string, err error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", "", "", fmt.Errorf("link: %w", err)
	}
	token, ok := strings.CutPrefix(u.Path, "/r/")
	if !ok || token == "" || strings.Contains(token, "/") {
		return "", "", "", fmt.Errorf("link: %q is not a room link (/r/{token}#k={secret})", u.Path)
	}
	frag, err := url.ParseQuery(u.Fragment)
	if err != nil {
		return "", "", "", fmt.Errorf("link fragment: %w", err)
	}
	return token, u.Scheme + "://" + u.Host, frag.Get("k"), nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseArgs(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	chats := make(chan string, 16)
	opts := client.Options{
		RoomSecret: cfg.secret,
		Name:       cfg.name,
		// OnChat runs on pion's goroutine: hand the line over, never block.
		OnChat: func(b []byte) {
			select {
			case chats <- string(b):
			default:
			}
		},
	}
	if cfg.loopback {
		opts.LoopbackOnly, opts.ICEServers = true, []webrtc.ICEServer{}
	}
	call, err := client.Dial(ctx, cfg.server, cfg.join, opts)
	if err != nil {
		return fmt.Errorf("join: %w", describe(err))
	}
	defer call.Close()

	// WaitConnected returns once media and chat are up and the other
	// side proved it holds the same room secret.
	if err := call.WaitConnected(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	fmt.Fprintln(out, "connected")
	if cfg.say != "" && !cfg.reply {
		if err := call.SendChat([]byte(cfg.say)); err != nil {
			return fmt.Errorf("chat: %w", err)
		}
	}
	return converse(ctx, call, cfg, chats, out)
}

// converse prints what happens until the other side leaves, or until a
// chat line arrived with --exit-after-chat.
func converse(ctx context.Context, call *client.Call, cfg config, chats <-chan string, out io.Writer) error {
	replied := false
	for {
		select {
		case line := <-chats:
			fmt.Fprintf(out, "chat: %s\n", line)
			if cfg.reply && !replied && cfg.say != "" {
				replied = true
				if err := call.SendChat([]byte(cfg.say)); err != nil {
					return fmt.Errorf("chat: %w", err)
				}
			}
			if cfg.exitAfterChat {
				return nil
			}
		case e, ok := <-call.Events():
			if !ok {
				return nil
			}
			if done, err := onEvent(ctx, call, e, out); done || err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// onEvent prints one event and tells whether the conversation is over.
func onEvent(ctx context.Context, call *client.Call, e client.Event, out io.Writer) (bool, error) {
	switch e.Type {
	case client.EventPeerName:
		fmt.Fprintf(out, "peer name: %s\n", e.Data)
	case client.EventPeerLeft:
		fmt.Fprintln(out, "peer left")
		// "bye" is a goodbye; anything else (a lost connection) may
		// still come back, so we wait.
		return e.Reason == "bye", nil
	case client.EventSecurity:
		return true, fmt.Errorf("security: %w", e.Err)
	case client.EventClosing:
		fmt.Fprintf(out, "closing: %s\n", e.Reason)
		return true, nil
	case client.EventSignalLost:
		// Media may still flow; a new session resumes signaling.
		if err := call.Reconnect(ctx); err != nil {
			return true, fmt.Errorf("reconnect: %w", describe(err))
		}
	}
	return false, nil
}

// describe turns the server's refusals into what a person can act on.
func describe(err error) error {
	switch {
	case client.IsCode(err, protocol.CodeRoomFull):
		return fmt.Errorf("the room is full: %w", err)
	case client.IsCode(err, protocol.CodeRoomClosed):
		return fmt.Errorf("the appointment is over: %w", err)
	case errors.Is(err, client.ErrNotP2P):
		return fmt.Errorf("this is a case conference; use client.DialConference: %w", err)
	}
	return err
}
