package browser

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/konsil/konsil/client"
	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// TestGoSDKTalksToBrowser: a Go SDK client with the room secret and a
// browser share one consultation. Each verifies the other's fingerprint,
// the browser shows the SDK's name, and sealed chat crosses both ways.
func TestGoSDKTalksToBrowser(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, protocol.RoleHost, protocol.RoleGuest)
	secretText := newSecret()
	secret, err := e2ee.ParseSecret(secretText)
	if err != nil {
		t.Fatal(err)
	}
	chat := make(chan []byte, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The SDK listens for candidates on 127.0.0.1 only, like the browser
	// in the test's network namespace.
	sdk, err := client.Dial(ctx, s.URL, protocol.JoinRequest{Token: room.Participants[0].Token}, client.Options{
		LoopbackOnly: true, RoomSecret: secret, Name: "Dr. Go SDK",
		OnChat: func(b []byte) { chat <- append([]byte(nil), b...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sdk.Close()

	guest := &participant{page: newBrowser(t, "guest").newPage("guest"), link: link(s, room.Participants[1], secretText)}
	guest.open()
	guest.enter("Erika Mustermann")
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := sdk.WaitConnected(wctx); err != nil {
		guest.screenshot("FAILED-sdk")
		t.Fatalf("SDK: %v", err)
	}
	guest.waitFor("browser verified the SDK", `window.konsilCall.verified() && window.konsilCall.state() === 'connected'`, remoteVideoJS, 20*time.Second)
	guest.waitFor("SDK's name", `document.getElementById('peer-name').textContent === 'Dr. Go SDK'`, `document.getElementById('peer-name').textContent`, 10*time.Second)

	guest.do("open chat", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-chat`)))
	guest.waitFor("chat ready", `!document.getElementById('chat-send').disabled`, `'send disabled'`, 10*time.Second)
	guest.do("send chat", 5*time.Second,
		chromedp.SetValue(chromedp.CSS(`#chat-input`), "Hallo aus dem Browser"),
		chromedp.Click(chromedp.CSS(`#chat-send`)),
	)
	select {
	case got := <-chat:
		if !bytes.Equal(got, []byte("Hallo aus dem Browser")) {
			t.Fatalf("SDK got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the browser's chat did not reach the SDK")
	}
	if err := sdk.SendChat([]byte("Hallo aus Go")); err != nil {
		t.Fatal(err)
	}
	guest.waitFor("SDK's chat", `[...document.querySelectorAll('#chat-log li.theirs')].some((li) => li.textContent.includes('Hallo aus Go'))`, `document.getElementById('chat-log').textContent`, 10*time.Second)
	guest.screenshot("30-chat-with-go-sdk")
	guest.checkConsole()
}
