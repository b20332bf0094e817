package browser

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// artifactsDir is where screenshots go: artifacts/browser at the
// repository root (gitignored).
var artifactsDir = filepath.Join("..", "..", "artifacts", "browser")

// chromiumPath finds Debian's Chromium. Without it the tests skip, or
// fail under CI, which must have it (.ci/run installs it).
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; CI needs it (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed: skipping the browser tests (apt-get install -y chromium)")
	return ""
}

// browserSlots keeps at most three Chromium processes alive at once: a
// 2-core machine runs three in a call at about 15 fps each.
var browserSlots = make(chan struct{}, 3)

// browser is one Chromium process.
type browser struct {
	t    testing.TB
	name string
	ctx  context.Context
}

// newBrowser starts Chromium with fake devices and loopback WebRTC and
// stops it when the test ends; extra options come last and win.
func newBrowser(t testing.TB, name string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	b, err := startBrowser(t, name, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startBrowser is newBrowser returning its error, so that several
// browsers can start at once from goroutines of a test.
func startBrowser(t testing.TB, name string, extra ...chromedp.ExecAllocatorOption) (*browser, error) {
	path := chromiumPath(t)
	select {
	case browserSlots <- struct{}{}:
	case <-time.After(2 * time.Minute):
		return nil, fmt.Errorf("%s: no free browser slot in 2 minutes", name)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in CI
		chromedp.WindowSize(1280, 940),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("lang", "de-DE"),
		chromedp.Flag("accept-lang", "de-DE,de"),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, name: name, ctx: ctx}
	// Start the browser now, so a broken install fails here. The first
	// Do must get ctx itself: the browser lives as long as that context.
	// chromedp bounds the start (it waits 20 s for the DevTools address).
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		<-browserSlots
		return nil, fmt.Errorf("%s: start chromium: %w", name, err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-browserSlots
	})
	return b, nil
}

// page is one tab, with the console problems it saw.
type page struct {
	t    testing.TB
	name string
	ctx  context.Context

	close context.CancelFunc

	mu       sync.Mutex
	problems []string
}

// newPage opens a tab. Its uncaught exceptions, console errors and
// browser-log errors (CSP or Trusted Types violations among them) are
// collected; checkConsole fails the test on them.
func (b *browser) newPage(name string) *page {
	p := &page{t: b.t, name: name}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithListener(p.listen))
	p.ctx, p.close = ctx, cancel
	b.t.Cleanup(cancel)
	// Open the tab on ctx itself: the tab lives as long as the context of
	// its first Do, and later actions run on children with timeouts.
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("%s: open tab: %v", name, err)
	}
	return p
}

// attach follows another tab of the same browser (a popup this page
// opened).
func (p *page) attach(name string, id target.ID) *page {
	q := &page{t: p.t, name: name}
	ctx, cancel := chromedp.NewContext(p.ctx, chromedp.WithTargetID(id), chromedp.WithListener(q.listen))
	q.ctx = ctx
	p.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		p.t.Fatalf("%s: attach: %v", name, err)
	}
	return q
}

func (p *page) listen(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			msg = "console.error: " + strings.Join(parts, " ")
		}
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			msg = fmt.Sprintf("browser log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
		}
	}
	if msg == "" {
		return
	}
	p.mu.Lock()
	p.problems = append(p.problems, msg)
	p.mu.Unlock()
}

// checkConsole fails on what the page reported, except expected lines.
func (p *page) checkConsole(allowed ...string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
next:
	for _, m := range p.problems {
		for _, a := range allowed {
			if strings.Contains(m, a) {
				continue next
			}
		}
		p.t.Errorf("%s: %s", p.name, m)
	}
}

// do runs actions with a bound.
func (p *page) do(what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](p *page, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// mustEval is eval that fails the test.
func mustEval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := eval[T](p, expr)
	if err != nil {
		p.t.Fatalf("%s: eval %s: %v", p.name, expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is true, failing with
// the last value of describe (a JavaScript expression) after d.
func (p *page) waitFor(what, cond, describe string, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := eval[bool](p, cond)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			seen, derr := eval[string](p, describe)
			if derr != nil {
				seen = derr.Error()
			}
			p.screenshot("FAILED-" + strings.ReplaceAll(what, " ", "-"))
			p.t.Fatalf("%s: %s: not within %v (eval err %v); saw: %s", p.name, what, d, err, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// screenshot saves the viewport as artifacts/browser/<name>-<page>.png.
func (p *page) screenshot(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Logf("%s: screenshot %s: %v", p.name, name, err)
		return ""
	}
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(artifactsDir, fmt.Sprintf("%s-%s.png", name, p.name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	p.t.Logf("screenshot %s", abs)
	return abs
}

// newSecret makes a room secret as the link's #k= carries it.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// unnamedControls lists controls without an accessible name: buttons,
// fields, selects and videos, hidden ones included (they appear later).
// Names come from aria-label, aria-labelledby, a <label>, or a button's
// text, as the accessibility tree computes them.
const unnamedControls = `(() => {
  const nameOf = (el) => {
    const aria = (el.getAttribute('aria-label') || '').trim();
    if (aria) return aria;
    const by = el.getAttribute('aria-labelledby');
    if (by) {
      const s = by.split(/\s+/).map((id) => (document.getElementById(id) || {}).textContent || '').join(' ').trim();
      if (s) return s;
    }
    if (el.labels && el.labels.length) {
      const s = [...el.labels].map((l) => l.textContent).join(' ').trim();
      if (s) return s;
    }
    if (el.tagName === 'BUTTON' && el.textContent.trim()) return el.textContent.trim();
    return (el.getAttribute('title') || '').trim();
  };
  return [...document.querySelectorAll('button, input, select, textarea, video, [role=button]')]
    .filter((el) => !nameOf(el)).map((el) => el.id || el.outerHTML.slice(0, 80));
})()`

// checkAccessibleNames fails when a control has no accessible name.
func (p *page) checkAccessibleNames(where string) {
	p.t.Helper()
	if bad := mustEval[[]string](p, unnamedControls); len(bad) > 0 {
		p.t.Errorf("%s (%s): controls without an accessible name: %v", p.name, where, bad)
	}
}
