package browser

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/protocol"
)

// participant is one person in a browser test: a page and its link.
type participant struct {
	*page
	link string
}

// link is what an invitation carries: /r/{token}#k={room secret}.
func link(s *testutil.Server, p protocol.Participant, secret string) string {
	return s.URL + "/r/" + p.Token + "#k=" + secret
}

// open navigates to the link and waits for the pre-call check.
func (p *participant) open() {
	p.t.Helper()
	p.do("open link", 20*time.Second, chromedp.Navigate(p.link))
	p.waitFor("pre-call check", `document.body.dataset.screen === 'screen-prejoin'`, `document.body.dataset.screen + ' ' + (document.body.dataset.message || '')`, 15*time.Second)
}

// enter fills the name and joins.
func (p *participant) enter(name string) {
	p.t.Helper()
	p.do("enter name and join", 15*time.Second,
		chromedp.SetValue(chromedp.CSS(`#pre-name`), name),
		chromedp.Click(chromedp.CSS(`#pre-join`)),
	)
	p.waitFor("call screen", `document.body.dataset.screen === 'screen-call'`, `document.body.dataset.screen + ' ' + (document.body.dataset.message || '')`, 15*time.Second)
}

// remoteVideoJS describes the remote video for failure messages.
const remoteVideoJS = `(async () => {
  const v = document.getElementById('remote-video');
  let decoded = -1;
  const s = window.konsilCall && await window.konsilCall.stats();
  if (s) s.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') decoded = r.framesDecoded; });
  return 'state=' + (window.konsilCall && window.konsilCall.state()) + ' verified=' + (window.konsilCall && window.konsilCall.verified()) +
    ' videoWidth=' + v.videoWidth + ' framesDecoded=' + decoded + ' status="' + document.getElementById('call-status').textContent + '" transceivers=' + window.konsilCall.transceivers();
})()`

const framesDecodedJS = `(async () => {
  let decoded = 0;
  const s = await window.konsilCall.stats();
  if (s) s.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') decoded = r.framesDecoded || 0; });
  return decoded;
})()`

// seesRemoteVideo waits until the other side's video plays: the element
// has a size, and frames keep being decoded.
func (p *participant) seesRemoteVideo() {
	p.t.Helper()
	p.waitFor("remote video", `document.getElementById('remote-video').videoWidth > 0 && window.konsilCall.state() === 'connected'`, remoteVideoJS, 30*time.Second)
	first := mustEval[int](p.page, framesDecodedJS)
	p.waitFor("frames decoded increasing", fmt.Sprintf(`%s.then((n) => n >= %d)`, framesDecodedJS, first+10), remoteVideoJS, 10*time.Second)
}

// TestConsultationByLink is a whole consultation in two browsers: the
// clinician and the patient open their links, pass the pre-call check,
// see and hear each other, chat both ways (with the unread badge), see
// each other's names, and the clinician leaves.
func TestConsultationByLink(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, protocol.RoleHost, protocol.RoleGuest)
	secret := newSecret()
	host := &participant{page: newBrowser(t, "host").newPage("host"), link: link(s, room.Participants[0], secret)}
	// The patient has two cameras, to switch between during the call.
	guestB := newBrowser(t, "guest", chromedp.Flag("use-fake-device-for-media-stream", "device-count=2"))
	guest := &participant{page: guestB.newPage("guest"), link: link(s, room.Participants[1], secret)}

	host.open()
	host.waitFor("network check done", `!document.getElementById('net-rerun').disabled`, `document.getElementById('net-advice').textContent`, 30*time.Second)
	host.waitFor("camera preview", `document.getElementById('pre-video').videoWidth > 0`, `'no preview'`, 10*time.Second)
	host.waitFor("microphone meter moves", `Number(document.getElementById('pre-meter').getAttribute('aria-valuenow')) > 0`, `document.getElementById('pre-meter').getAttribute('aria-valuenow')`, 5*time.Second)
	host.screenshot("01-prejoin")
	host.checkAccessibleNames("pre-call check")
	host.enter("Dr. Anna Berg")
	host.waitFor("waiting banner", `document.getElementById('call-status').textContent.length > 0`, `document.getElementById('call-status').textContent`, 5*time.Second)
	host.screenshot("02-waiting")

	guest.open()
	guest.enter("Erika Mustermann")
	guest.seesRemoteVideo()
	host.seesRemoteVideo()
	start := mustEval[float64](guest.page, `window.konsilCall.firstFrameAt()`)
	t.Logf("guest: link opened to first remote frame in %.0f ms (including the pre-call check and a scripted click)", start)

	// The clinician sees the patient's name (and the other way round);
	// the server only ever relayed ciphertext.
	host.waitFor("patient's name", `document.getElementById('peer-name').textContent === 'Erika Mustermann'`, `document.getElementById('peer-name').textContent`, 10*time.Second)
	guest.waitFor("clinician's name", `document.getElementById('peer-name').textContent === 'Dr. Anna Berg'`, `document.getElementById('peer-name').textContent`, 10*time.Second)
	host.waitFor("quality indicator", `!document.getElementById('quality').hidden && !!document.getElementById('quality').dataset.level`, `document.getElementById('quality').outerHTML`, 10*time.Second)
	host.screenshot("03-call")
	guest.screenshot("03-call")
	host.checkAccessibleNames("call")
	guest.checkAccessibleNames("call")

	// Chat: the guest's panel is closed, so a message shows as unread.
	host.do("open chat", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-chat`)))
	host.waitFor("chat ready", `!document.getElementById('chat-send').disabled`, `'send disabled'`, 10*time.Second)
	host.do("send chat", 5*time.Second,
		chromedp.SetValue(chromedp.CSS(`#chat-input`), "Guten Tag, Frau Mustermann. Wie geht es Ihnen?"),
		chromedp.Click(chromedp.CSS(`#chat-send`)),
	)
	guest.waitFor("unread badge", `document.getElementById('chat-badge').textContent === '1' && !document.getElementById('chat-badge').hidden`, `document.getElementById('chat-badge').outerHTML`, 10*time.Second)
	guest.screenshot("04-chat-unread")
	guest.do("open chat", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-chat`)))
	guest.waitFor("message from host", `[...document.querySelectorAll('#chat-log li.theirs')].some((li) => li.textContent.includes('Wie geht es Ihnen?'))`, `document.getElementById('chat-log').textContent`, 5*time.Second)
	guest.do("reply", 5*time.Second,
		chromedp.SetValue(chromedp.CSS(`#chat-input`), "Danke, viel besser! 😊"),
		chromedp.Click(chromedp.CSS(`#chat-send`)),
	)
	host.waitFor("reply from guest", `[...document.querySelectorAll('#chat-log li.theirs')].some((li) => li.textContent.includes('viel besser'))`, `document.getElementById('chat-log').textContent`, 10*time.Second)
	host.waitFor("badge stays clear with the panel open", `document.getElementById('chat-badge').hidden`, `document.getElementById('chat-badge').outerHTML`, 2*time.Second)
	host.screenshot("05-chat")
	guest.screenshot("05-chat")

	// Switching the camera mid-call replaces the track without
	// renegotiation: the clinician's remote description stays the same
	// and frames keep coming.
	remoteSDP := `window.konsilCall.remoteSDP()`
	before := mustEval[string](host.page, remoteSDP)
	guest.do("open devices", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-devices`)))
	guest.waitFor("two cameras", `document.getElementById('devices-dialog').open && document.getElementById('call-camera').options.length >= 2`, `document.getElementById('call-camera').outerHTML`, 5*time.Second)
	guest.screenshot("06a-devices")
	guest.checkAccessibleNames("devices dialog")
	// There and back: Chromium's second fake camera delivers a pixel
	// format the encoder skips, so the call ends on a fresh track of the
	// first camera; each switch is a replaceTrack.
	firstTrack := mustEval[string](guest.page, `document.getElementById('self-video').srcObject.getVideoTracks()[0].id`)
	for i := 0; i < 2; i++ {
		mustEval[bool](guest.page, `(() => { const s = document.getElementById('call-camera'); s.selectedIndex = (s.selectedIndex + 1) % s.options.length; s.dispatchEvent(new Event('change')); return true; })()`)
		guest.waitFor("camera switched", `(() => { const t = document.getElementById('self-video').srcObject.getVideoTracks()[0]; return !!t && t.getSettings().deviceId === document.getElementById('call-camera').value; })()`, `document.getElementById('call-camera').value`, 10*time.Second)
	}
	if id := mustEval[string](guest.page, `document.getElementById('self-video').srcObject.getVideoTracks()[0].id`); id == firstTrack {
		t.Error("the camera track was not replaced")
	}
	guest.do("close devices", 5*time.Second, chromedp.Click(chromedp.CSS(`#devices-close`)))
	host.seesRemoteVideo()
	if after := mustEval[string](host.page, remoteSDP); after != before {
		t.Error("switching the camera renegotiated the session")
	}

	// A network change: the app restarts ICE (the offerer offers an ICE
	// restart; the answerer reconnects signaling so the offerer does) and
	// the call goes on with new ICE credentials.
	ufrag := mustEval[string](host.page, `window.konsilCall.iceUfrag()`)
	guest.do("network change", 5*time.Second, chromedp.Evaluate[chromedp.Void](`window.dispatchEvent(new Event('online'))`))
	host.waitFor("ICE restarted", fmt.Sprintf(`window.konsilCall.iceUfrag() !== %q && window.konsilCall.state() === 'connected'`, ufrag), remoteVideoJS, 15*time.Second)
	host.seesRemoteVideo()
	guest.seesRemoteVideo()

	// The patient reloads the tab: a new PeerConnection with a new DTLS
	// certificate; the clinician's side builds a new one too, the
	// fingerprint check runs again, and video returns.
	guest.do("reload", 20*time.Second, chromedp.Reload())
	guest.waitFor("pre-call check after reload", `document.body.dataset.screen === 'screen-prejoin'`, `document.body.dataset.screen`, 15*time.Second)
	guest.enter("Erika Mustermann")
	guest.seesRemoteVideo()
	host.seesRemoteVideo()
	host.waitFor("chat still ready", `!document.getElementById('chat-send').disabled`, `'send disabled'`, 10*time.Second)

	// The compact window: a popup near the webcam shows the call; the
	// main window keeps the connection and says where the call is.
	popupID := chromedp.WaitNewTarget(host.ctx, func(info *target.Info) bool { return strings.HasSuffix(info.URL, "/app/compact.html") })
	host.do("open compact window", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-compact`)))
	var popup *page
	select {
	case id := <-popupID:
		popup = host.attach("compact", id)
	case <-time.After(10 * time.Second):
		host.screenshot("FAILED-compact")
		t.Fatal("no compact window opened")
	}
	popup.waitFor("video in the compact window", `document.getElementById('remote-video').videoWidth > 0 && document.getElementById('remote-placeholder').hidden`, `document.getElementById('remote-video').videoWidth + ' ' + document.body.innerHTML.slice(0, 200)`, 15*time.Second)
	host.waitFor("main window knows", `document.body.classList.contains('compact-active') && document.getElementById('remote-video').srcObject === null`, `document.body.className`, 5*time.Second)
	popup.screenshot("09-compact")
	host.screenshot("09-compact-main")
	popup.checkAccessibleNames("compact window")
	popup.do("back to the full window", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-back`)))
	host.waitFor("video back in the main window", `!document.body.classList.contains('compact-active') && document.getElementById('remote-video').srcObject !== null`, `document.body.className`, 5*time.Second)

	// Mute and camera off change the controls' state and names.
	guest.do("mute and camera off", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-mic`)), chromedp.Click(chromedp.CSS(`#btn-cam`)))
	guest.waitFor("toggles pressed", `document.getElementById('btn-mic').getAttribute('aria-pressed') === 'true' && document.getElementById('btn-cam').getAttribute('aria-pressed') === 'true'`, `document.querySelector('.controls').outerHTML`, 5*time.Second)
	host.waitFor("camera-off placeholder", `!document.getElementById('remote-placeholder').hidden`, remoteVideoJS, 10*time.Second)
	host.screenshot("06-peer-camera-off")
	guest.screenshot("06-muted-camera-off")
	guest.do("camera on again", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-cam`)))
	host.waitFor("video back", `document.getElementById('remote-placeholder').hidden`, remoteVideoJS, 15*time.Second)

	// English, switched at run time.
	guest.do("switch language", 5*time.Second, chromedp.Click(chromedp.CSS(`#lang-switch`)))
	guest.waitFor("english labels", `document.documentElement.lang === 'en' && document.querySelector('#btn-leave .label').textContent === 'Leave'`, `document.querySelector('#btn-leave .label').textContent`, 5*time.Second)
	guest.screenshot("07-call-english")

	// The clinician leaves: a clear end screen; the patient is told.
	host.do("leave", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-leave`)))
	host.waitFor("end screen", `document.body.dataset.message === 'ended'`, `document.body.dataset.screen + ' ' + document.body.dataset.message`, 10*time.Second)
	guest.waitFor("peer left", `window.konsilCall.state() === 'peer-left'`, `window.konsilCall.state()`, 10*time.Second)
	host.screenshot("08-ended")
	guest.screenshot("08-peer-left")
	host.checkAccessibleNames("end screen")
	host.checkConsole()
	guest.checkConsole()
}

// TestWrongSecretStopsTheCall: one link carries another room secret. The
// fingerprint MACs then cannot match, and both sides stop with a security
// warning instead of connecting; nothing of the other side is shown.
func TestWrongSecretStopsTheCall(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, protocol.RoleHost, protocol.RoleGuest)
	host := &participant{page: newBrowser(t, "host").newPage("host"), link: link(s, room.Participants[0], newSecret())}
	guest := &participant{page: newBrowser(t, "guest").newPage("guest"), link: link(s, room.Participants[1], newSecret())}
	// The remote video must never get a stream: record any assignment.
	for _, p := range []*participant{host, guest} {
		p.open()
		mustEval[bool](p.page, `(() => {
		  const v = document.getElementById('remote-video');
		  const d = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, 'srcObject');
		  window.remoteEverSet = false;
		  Object.defineProperty(v, 'srcObject', { get() { return d.get.call(this); }, set(x) { if (x) window.remoteEverSet = true; d.set.call(this, x); } });
		  return true;
		})()`)
		p.enter(map[*participant]string{host: "Dr. Anna Berg", guest: "Erika Mustermann"}[p])
	}
	for _, p := range []*participant{host, guest} {
		p.waitFor("security warning", `document.body.dataset.message === 'security'`, `document.body.dataset.screen + ' ' + (document.body.dataset.message || '') + ' ' + (window.konsilCall && window.konsilCall.state())`, 30*time.Second)
		if mustEval[bool](p.page, `window.remoteEverSet`) {
			t.Errorf("%s: the remote video got a stream despite the failed check", p.name)
		}
		if name := mustEval[string](p.page, `document.getElementById('peer-name').textContent`); name != "" {
			t.Errorf("%s: shows a peer name %q with a wrong secret", p.name, name)
		}
		p.screenshot("10-security-warning")
		p.checkAccessibleNames("security warning")
		p.checkConsole()
	}
}

// TestRefusalPages: what a person sees when the link cannot be used:
// the room is over, not open yet, the link is unknown or incomplete. And
// the start page for typing a code.
func TestRefusalPages(t *testing.T) {
	s := testutil.StartServer(t)
	p := &participant{page: newBrowser(t, "one").newPage("page")}
	show := func(what, url, want string) {
		t.Helper()
		p.do("open "+what, 20*time.Second, chromedp.Navigate(url))
		p.waitFor(what, fmt.Sprintf(`document.body.dataset.message === %q`, want), `document.body.dataset.screen + ' ' + (document.body.dataset.message || '')`, 15*time.Second)
	}

	p.do("start page", 20*time.Second, chromedp.Navigate(s.URL+"/"))
	p.waitFor("start page", `document.body.dataset.screen === 'screen-start'`, `document.body.dataset.screen`, 10*time.Second)
	p.screenshot("20-start")
	p.checkAccessibleNames("start page")

	// A typed code without its room key is not enough; with it, the code
	// leads to the pre-call check (and stays in the fragment for reloads).
	byCode := s.CreateRoom(t, 2, protocol.RoleHost, protocol.RoleGuest)
	p.do("type code", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#start-code`), byCode.Participants[1].Code),
		chromedp.Click(chromedp.CSS(`#start-form button[type=submit]`)),
	)
	p.waitFor("key required", `!document.getElementById('start-error').hidden`, `document.getElementById('start-error').outerHTML`, 5*time.Second)
	p.do("type key", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#start-key`), newSecret()),
		chromedp.Click(chromedp.CSS(`#start-form button[type=submit]`)),
	)
	p.waitFor("pre-call check by code", `document.body.dataset.screen === 'screen-prejoin' && location.hash.startsWith('#c=')`, `document.body.dataset.screen + ' ' + location.href`, 15*time.Second)

	show("incomplete link", s.URL+"/r/AAAAAAAAAAAAAAAAAAAAAA#k=tooShort", "incomplete")
	p.screenshot("21-incomplete-link")
	show("unknown link", s.URL+"/r/AAAAAAAAAAAAAAAAAAAAAA#k="+newSecret(), "unknown")
	p.screenshot("22-unknown-link")

	// Not open yet: a room that starts in two hours (the server's clock
	// is moved back), with the opening time shown in local time.
	early := s.CreateRoom(t, 2, protocol.RoleHost, protocol.RoleGuest)
	s.Clock.Advance(-3 * time.Hour)
	show("room not open", link(s, early.Participants[1], newSecret()), "not-open")
	body := mustEval[string](p.page, `document.getElementById('msg-body').textContent`)
	opens := early.Window.StartsAt.Local()
	if !strings.Contains(body, fmt.Sprintf("%02d:%02d", opens.Hour(), opens.Minute())) {
		t.Errorf("not-open page says %q, want the opening time %s", body, opens.Format("15:04"))
	}
	p.screenshot("23-not-open")
	s.Clock.Advance(3 * time.Hour)

	// The room's window has ended: the "closed" page, in both languages.
	room := s.CreateRoom(t, 2, protocol.RoleHost, protocol.RoleGuest)
	s.Clock.Advance(26 * time.Hour)
	show("room closed", link(s, room.Participants[0], newSecret()), "closed")
	p.screenshot("24-closed-de")
	if lang := mustEval[string](p.page, `document.documentElement.lang`); lang != "de" {
		t.Errorf("page language %q, want de (Chromium runs with --lang=de-DE)", lang)
	}
	p.do("switch to English", 5*time.Second, chromedp.Click(chromedp.CSS(`#lang-switch`)))
	p.waitFor("english closed page", `document.getElementById('msg-title').textContent === 'This consultation is over'`, `document.getElementById('msg-title').textContent`, 5*time.Second)
	p.screenshot("25-closed-en")
	p.checkAccessibleNames("closed page")
	// The refused joins are answered 4xx: Chromium logs each failed fetch.
	p.checkConsole("Failed to load resource")
}

// TestPermissionDenied: without the fake permission prompt, headless
// Chromium denies camera and microphone; the pre-call check explains how
// to allow them, and joining still works (without sending media).
func TestPermissionDenied(t *testing.T) {
	s := testutil.StartServer(t)
	room := s.CreateRoom(t, 2, protocol.RoleHost, protocol.RoleGuest)
	b := newBrowser(t, "denied", chromedp.Flag("use-fake-ui-for-media-stream", false))
	p := &participant{page: b.newPage("page"), link: link(s, room.Participants[1], newSecret())}
	p.open()
	p.waitFor("denied notice", `!document.getElementById('pre-media-error').hidden && document.getElementById('pre-media-error-title').textContent === 'Kamera und Mikrofon sind gesperrt'`,
		`document.getElementById('pre-media-error').outerHTML`, 15*time.Second)
	p.screenshot("26-permission-denied")
	p.checkAccessibleNames("permission denied")
	p.enter("Erika Mustermann")
	p.waitFor("controls reflect no media", `document.getElementById('btn-mic').disabled && document.getElementById('btn-cam').disabled`, `document.querySelector('.controls').outerHTML`, 5*time.Second)
	p.checkConsole()
}

// TestSecurityHeaders: the app's pages carry a strict CSP, no referrer
// and a camera/microphone policy for this origin only, and the app runs
// under them (no violation shows in the console).
func TestSecurityHeaders(t *testing.T) {
	s := testutil.StartServer(t)
	p := newBrowser(t, "one").newPage("page")
	ctx := p.ctx
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(s.URL+"/r/AAAAAAAAAAAAAAAAAAAAAA#k="+newSecret()))
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for k, v := range resp.Headers {
		h[strings.ToLower(k)] = fmt.Sprint(v)
	}
	csp := h["content-security-policy"]
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %q", csp, bad)
		}
	}
	if h["referrer-policy"] != "no-referrer" {
		t.Errorf("Referrer-Policy = %q", h["referrer-policy"])
	}
	pp := strings.Split(strings.ReplaceAll(h["permissions-policy"], " ", ""), ",")
	for _, want := range []string{"camera=(self)", "microphone=(self)"} {
		if !slices.Contains(pp, want) {
			t.Errorf("Permissions-Policy %q lacks %s", h["permissions-policy"], want)
		}
	}
	p.waitFor("app ran", `document.body.dataset.message === 'unknown'`, `document.body.dataset.screen`, 15*time.Second)
	p.checkConsole("Failed to load resource")
}

// TestLinkToFirstFrame measures, in the second participant's page, the
// time from opening the link to the first remote video frame (pre-call
// check and a scripted click on "join" included), over
// KONSIL_BROWSER_RUNS runs (skipped when unset):
//
//	KONSIL_BROWSER_RUNS=5 make browsertest BROWSER_RUN=TestLinkToFirstFrame
func TestLinkToFirstFrame(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("KONSIL_BROWSER_RUNS"))
	if runs <= 0 {
		t.Skip("set KONSIL_BROWSER_RUNS=5 to measure link-to-first-frame time")
	}
	s := testutil.StartServer(t)
	hostB, guestB := newBrowser(t, "host"), newBrowser(t, "guest")
	var times []float64
	for i := range runs {
		room := s.CreateRoom(t, 2, protocol.RoleHost, protocol.RoleGuest)
		secret := newSecret()
		host := &participant{page: hostB.newPage(fmt.Sprintf("host%d", i)), link: link(s, room.Participants[0], secret)}
		guest := &participant{page: guestB.newPage(fmt.Sprintf("guest%d", i)), link: link(s, room.Participants[1], secret)}
		host.open()
		host.enter("Dr. Anna Berg")
		guest.open()
		guest.enter("Erika Mustermann")
		guest.waitFor("first frame", `window.konsilCall.firstFrameAt() !== null`, remoteVideoJS, 30*time.Second)
		ms := mustEval[float64](guest.page, `window.konsilCall.firstFrameAt()`)
		times = append(times, ms)
		marks := mustEval[string](guest.page, `performance.getEntriesByType('mark').filter((m) => m.name.startsWith('konsil:')).map((m) => m.name.slice(7) + ' ' + Math.round(m.startTime)).join(', ')`)
		t.Logf("run %d: link opened → first remote frame %.0f ms (%s)", i+1, ms, marks)
		host.do("leave", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-leave`)))
		guest.do("leave", 5*time.Second, chromedp.Click(chromedp.CSS(`#btn-leave`)))
		host.close()
		guest.close()
	}
	slices.Sort(times)
	t.Logf("median of %d runs: %.0f ms (min %.0f, max %.0f)", runs, times[len(times)/2], times[0], times[len(times)-1])
}
