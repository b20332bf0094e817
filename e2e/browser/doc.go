// Package browser holds end-to-end tests of the browser app in real
// headless Chromium (Debian's chromium package) driven by chromedp, with
// fake camera and microphone. The server runs in-process; WebRTC stays on
// loopback.
//
// `make test` runs this package inside a private network namespace that has
// only lo (unshare -n), so Chromium gathers 127.0.0.1 candidates and nothing
// leaves the machine. The test binary is built first, outside the namespace,
// because the namespace has no network for module downloads. Screenshots of
// every step go to artifacts/browser/ at the repository root.
//
// Without chromium installed the tests skip, except under CI=true, where a
// missing browser fails them.
package browser
