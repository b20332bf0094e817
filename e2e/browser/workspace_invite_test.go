package browser

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/konsil/konsil/internal/testutil"
)

// decodeQRJS reads back the QR code of the first SVG under a selector as a
// phone would see it: the SVG drawn on a canvas, the pixels decoded by the
// vendored decoder. %q is the selector.
const decodeQRJS = `(async () => {
  const { decodeQR } = await import('/app/js/vendor/paulmillr-qr/decode.js');
  const svg = document.querySelector(%q);
  if (!svg) return 'no QR code';
  const size = svg.viewBox.baseVal.width * 8;
  const copy = svg.cloneNode(true);
  copy.setAttribute('width', size);
  copy.setAttribute('height', size);
  const src = URL.createObjectURL(new Blob([new XMLSerializer().serializeToString(copy)], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.src = src;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = size;
    const g = canvas.getContext('2d');
    g.drawImage(img, 0, 0, size, size);
    return decodeQR({ width: size, height: size, data: g.getImageData(0, 0, size, size).data });
  } catch (err) {
    return 'not decoded: ' + err;
  } finally {
    URL.revokeObjectURL(src);
  }
})()`

// requestLog collects the URL of every request a tab makes.
type requestLog struct {
	mu   sync.Mutex
	urls []string
}

func (l *requestLog) listen(ev any) {
	var u string
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		u = e.Request.URL
	case *network.EventWebSocketCreated:
		u = e.URL
	default:
		return
	}
	l.mu.Lock()
	l.urls = append(l.urls, u)
	l.mu.Unlock()
}

// saw reports whether some request's URL contains part.
func (l *requestLog) saw(part string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, u := range l.urls {
		if strings.Contains(u, part) {
			return true
		}
	}
	return false
}

// foreign lists the requests that left origin. data: URLs go nowhere; a
// blob: URL names the origin that made it.
func (l *requestLog) foreign(origin string) (all int, out []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, raw := range l.urls {
		if strings.HasPrefix(raw, "data:") {
			continue
		}
		u, err := url.Parse(strings.TrimPrefix(raw, "blob:"))
		if err != nil || u.Scheme+"://"+u.Host != origin {
			// Keep the path out of the report: it may hold a link token.
			out = append(out, raw[:min(len(raw), 40)])
		}
	}
	return len(l.urls), out
}

// artifact saves a PNG or PDF as artifacts/browser/<name>.
func artifact(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactsDir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("artifact %s", abs)
}

// capture runs a screenshot or PDF action on a page, bounded.
func capture(p *page, what string, a chromedp.Action[[]byte]) []byte {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, a)
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
	return b
}

// printMedia switches the tab's CSS to print media ("" switches back).
func printMedia(p *page, media string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: media}); err != nil {
		p.t.Fatalf("%s: emulate media %q: %v", p.name, media, err)
	}
}

// TestWorkspaceInvitationLetter: the clinician opens the invitation of
// Erika Mustermann's appointment and finds a QR code beside the link; a
// phone scanning it (here: the SVG drawn on a canvas and decoded) gets
// exactly the patient's link, room secret included. She prints an
// appointment letter in English from her German workspace: it names the
// practice, the patient, the date, the link, the access code and room key
// to type on the start page, and the QR code, and printing shows the
// letter alone. Everything the page asked for on the way went to the
// server itself: no QR service, no font, nothing from elsewhere.
func TestWorkspaceInvitationLetter(t *testing.T) {
	const patient = "Erika Mustermann"
	s := testutil.StartServer(t)
	doc := setUpPractice(t, s, newBrowser(t, "clinician"))
	doc.newAppointment(patient)
	link := doc.links(patient)[0]

	// From here every request of the tab is logged; the reload (the
	// practice key waits in sessionStorage) makes the whole page load part
	// of what is checked.
	var reqs requestLog
	if err := chromedp.Listen(doc.ctx, reqs.listen); err != nil {
		t.Fatal(err)
	}
	doc.do("reload", 20*time.Second, chromedp.Reload())
	doc.waitFor("calendar after reload", entryJS(patient)+` !== undefined`, `document.body.dataset.screen + ' ' + document.body.innerText.slice(0, 300)`, 30*time.Second)

	// The invitation shows the QR code of the link.
	doc.do("open invitation", 10*time.Second, chromedp.Evaluate[chromedp.Void](entryJS(patient)+`.querySelector('.appt-invite').click()`))
	const qrSel = `#invite-dialog li.ws-invitee svg.ws-qr`
	doc.waitFor("QR code", fmt.Sprintf(`document.querySelector(%q) !== null`, qrSel), `document.getElementById('invite-list').innerText.slice(0, 400)`, 10*time.Second)
	if got := mustEval[string](doc.page, fmt.Sprintf(`document.querySelector(%q).getAttribute('role') + ' | ' + document.querySelector(%q).getAttribute('aria-label')`, qrSel, qrSel)); !strings.HasPrefix(got, "img | ") || !strings.Contains(got, patient) {
		t.Errorf("QR code's role and label %q: want an image named for %s", got, patient)
	}
	doc.checkAccessibleNames("invitation with QR code")
	if got := mustEval[string](doc.page, fmt.Sprintf(decodeQRJS, qrSel)); got != link {
		t.Errorf("the QR code reads %q, want the patient's link %q", got, link)
	}
	artifact(t, "ws-invitation.png", capture(doc.page, "screenshot", chromedp.CaptureScreenshot()))

	// The letter, in English, while the workspace speaks German. The
	// print dialog itself is the browser's; the test counts the call.
	doc.do("print the letter in English", 10*time.Second,
		chromedp.Evaluate[chromedp.Void](`window.print = () => { window.konsilPrinted = (window.konsilPrinted || 0) + 1; }`),
		chromedp.SetValue(chromedp.CSS(`#invite-dialog .invite-letter-lang`), "en"),
		chromedp.Click(chromedp.CSS(`#invite-dialog .invite-print`)),
	)
	doc.waitFor("letter printed", `window.konsilPrinted === 1 && document.body.classList.contains('ws-print-letter')`, `String(window.konsilPrinted) + ' ' + document.body.className`, 5*time.Second)
	letter := mustEval[string](doc.page, `document.getElementById('invite-letter').textContent`)
	code := mustEval[string](doc.page, `document.querySelector('#invite-dialog .invite-code').textContent`)
	secret := link[strings.Index(link, "#k=")+3:]
	start, err := time.Parse(time.RFC3339, mustEval[string](doc.page, fmt.Sprintf(`window.konsilWorkspace.state().appointments.find((a) => a.patient === %q).starts_at`, patient)))
	if err != nil {
		t.Fatal(err)
	}
	// The browser and the test share the machine's zone, which the
	// appointment was made in.
	date := start.Local().Format("2 January 2006")
	for _, want := range []string{"Praxis Dr. Berg", patient, "Your video consultation appointment", date, link, code, s.URL + "/", secret, "waiting room"} {
		if !strings.Contains(letter, want) {
			t.Errorf("the letter lacks %q:\n%s", want, letter)
		}
	}
	if lang := mustEval[string](doc.page, `document.getElementById('invite-letter').lang + ' ' + document.documentElement.lang`); lang != "en de" {
		t.Errorf("letter and page languages %q, want an English letter in a German page", lang)
	}
	if got := mustEval[string](doc.page, fmt.Sprintf(decodeQRJS, `#invite-letter svg.ws-qr`)); got != link {
		t.Errorf("the letter's QR code reads %q, want the patient's link", got)
	}

	// Printed, the page is the letter alone.
	printMedia(doc.page, "print")
	if shown := mustEval[string](doc.page, `['invite-letter', 'invite-dialog', 'main'].map((id) => getComputedStyle(document.getElementById(id)).display).join(' ')`); shown != "block none none" {
		t.Errorf("display in print of letter, dialog, workspace: %q, want block none none", shown)
	}
	// About the width of A4 at 96 dpi, so the screenshot wraps as paper does.
	doc.do("A4 width", 5*time.Second, chromedp.EmulateViewport(794, 1123))
	artifact(t, "ws-letter.png", capture(doc.page, "letter screenshot", chromedp.FullScreenshot(100)))
	doc.do("window width", 5*time.Second, chromedp.ResetViewport())
	artifact(t, "ws-letter.pdf", capture(doc.page, "letter PDF", chromedp.PrintToPDF(chromedp.PDFPreferCSSPageSize())))
	printMedia(doc.page, "")

	// Closing the invitation takes the letter, and its secret, off the page.
	doc.do("close invitation", 5*time.Second, chromedp.KeyEvent(kb.Escape))
	doc.waitFor("letter gone", `document.getElementById('invite-letter').childElementCount === 0 && !document.body.classList.contains('ws-print-letter')`, `document.body.className`, 5*time.Second)

	n, foreign := reqs.foreign(s.URL)
	if !reqs.saw("/app/js/vendor/paulmillr-qr/index.js") {
		t.Errorf("the log of %d requests lacks the QR encoder: it missed the page load", n)
	}
	for _, u := range foreign {
		t.Errorf("a request left the server's origin: %s", u)
	}
	doc.checkConsole()
}
