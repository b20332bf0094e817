package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// securePeer is an SDK participant with a room secret.
type securePeer struct {
	*client.Call
	chat chan []byte
}

func dialSecure(t *testing.T, s *testutil.Server, token string, secret []byte, name string) *securePeer {
	t.Helper()
	p := &securePeer{chat: make(chan []byte, 8)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.URL, protocol.JoinRequest{Token: token}, client.Options{
		LoopbackOnly: true, RoomSecret: secret, Name: name,
		OnChat: func(b []byte) { p.chat <- append([]byte(nil), b...) },
	})
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	p.Call = c
	t.Cleanup(func() { c.Close() })
	return p
}

func randomSecret(t *testing.T) []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor reads events until one of typ arrives.
func (p *securePeer) waitFor(t *testing.T, typ client.EventType) client.Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	var seen []client.EventType
	for {
		select {
		case e, ok := <-p.Events():
			if !ok {
				t.Fatalf("events closed before %s; saw %v", typ, seen)
			}
			if e.Type == typ {
				return e
			}
			seen = append(seen, e.Type)
		case <-deadline:
			t.Fatalf("no %s event; saw %v", typ, seen)
		}
	}
}

// TestSecureCallSealsChatAndNames: two SDK clients with the same room
// secret prove their DTLS fingerprints to each other, exchange sealed
// names and chat; what crossed the server's data channel was ciphertext.
func TestSecureCallSealsChatAndNames(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, protocol.RoleHost, protocol.RoleGuest)
	secret := randomSecret(t)
	host := dialSecure(t, s, room.Participants[0].Token, secret, "Dr. Anna Berg")
	guest := dialSecure(t, s, room.Participants[1].Token, secret, "Erika Mustermann")
	for _, p := range []*securePeer{host, guest} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := p.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if !p.Verified() {
			t.Fatal("connected but not verified")
		}
	}
	if e := host.waitFor(t, client.EventPeerName); e.Data != "Erika Mustermann" {
		t.Errorf("host sees name %q", e.Data)
	}
	if e := guest.waitFor(t, client.EventPeerName); e.Data != "Dr. Anna Berg" {
		t.Errorf("guest sees name %q", e.Data)
	}
	for _, c := range []struct {
		from, to *securePeer
		text     string
	}{{host, guest, "Guten Tag!"}, {guest, host, "Hallo, Frau Doktor."}} {
		if err := c.from.SendChat([]byte(c.text)); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-c.to.chat:
			if !bytes.Equal(got, []byte(c.text)) {
				t.Fatalf("chat %q arrived as %q", c.text, got)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("chat %q did not arrive", c.text)
		}
	}
}

// TestSecureCallRefusesWrongSecret: one side holds another room secret.
// The fingerprint MACs cannot match, so both sides report EventSecurity
// and close instead of connecting.
func TestSecureCallRefusesWrongSecret(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, protocol.RoleHost, protocol.RoleGuest)
	host := dialSecure(t, s, room.Participants[0].Token, randomSecret(t), "host")
	guest := dialSecure(t, s, room.Participants[1].Token, randomSecret(t), "guest")
	for _, p := range []*securePeer{host, guest} {
		e := p.waitFor(t, client.EventSecurity)
		if !errors.Is(e.Err, client.ErrFingerprintMismatch) {
			t.Errorf("security event error = %v", e.Err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := p.WaitConnected(ctx)
		cancel()
		if !errors.Is(err, client.ErrFingerprintMismatch) {
			t.Errorf("WaitConnected = %v, want ErrFingerprintMismatch", err)
		}
	}
}

// TestSecureDialRefusesBadSecret: a secret of the wrong size is refused
// before anything is sent.
func TestSecureDialRefusesBadSecret(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, protocol.RoleHost, protocol.RoleGuest)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, s.URL, protocol.JoinRequest{Token: room.Participants[0].Token}, client.Options{RoomSecret: make([]byte, 16)})
	if !errors.Is(err, e2ee.ErrBadSecret) {
		t.Fatalf("Dial with a 16-byte secret: %v, want e2ee.ErrBadSecret", err)
	}
}
