package api_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/konsil/konsil/api"
	"github.com/konsil/konsil/internal/testutil"
	"github.com/konsil/konsil/practice"
	"github.com/konsil/konsil/protocol"
)

// authenticator is a small software passkey (WebAuthn §6): one ES256
// credential per site, attestation "none", user presence and
// verification always given, a sign count that grows.
type authenticator struct {
	t      *testing.T
	key    *ecdsa.PrivateKey
	id     []byte
	user   []byte
	count  uint32
	origin string
	rpID   string
}

func newAuthenticator(t *testing.T, origin string) *authenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(origin)
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &authenticator{t: t, key: key, id: id, origin: origin, rpID: u.Hostname()}
}

var b64u = base64.RawURLEncoding

// cborHead is a CBOR item head (RFC 8949 §3): major type and argument.
func cborHead(major byte, n int) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 256:
		return []byte{major<<5 | 24, byte(n)}
	default:
		return []byte{major<<5 | 25, byte(n >> 8), byte(n)}
	}
}

func cborInt(v int) []byte {
	if v < 0 {
		return cborHead(1, -1-v)
	}
	return cborHead(0, v)
}

func cborBytes(b []byte) []byte { return append(cborHead(2, len(b)), b...) }
func cborText(s string) []byte  { return append(cborHead(3, len(s)), s...) }

// authData is WebAuthn §6.1's authenticator data: rpIdHash, flags
// (UP|UV, and AT with attested credential data), sign count.
func (a *authenticator) authData(attested bool) []byte {
	h := sha256.Sum256([]byte(a.rpID))
	flags := byte(0x01 | 0x04)
	if attested {
		flags |= 0x40
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.count)
	if !attested {
		return out
	}
	out = append(out, make([]byte, 16)...) // AAGUID: none
	out = binary.BigEndian.AppendUint16(out, uint16(len(a.id)))
	out = append(out, a.id...)
	// COSE_Key (RFC 9053 §7.1.1): kty EC2, alg ES256, crv P-256, x, y.
	pub, err := a.key.PublicKey.Bytes() // 0x04 ‖ x ‖ y
	if err != nil {
		a.t.Fatal(err)
	}
	out = append(out, cborHead(5, 5)...)
	out = append(append(out, cborInt(1)...), cborInt(2)...)
	out = append(append(out, cborInt(3)...), cborInt(-7)...)
	out = append(append(out, cborInt(-1)...), cborInt(1)...)
	out = append(append(out, cborInt(-2)...), cborBytes(pub[1:33])...)
	return append(append(out, cborInt(-3)...), cborBytes(pub[33:65])...)
}

func (a *authenticator) clientData(typ, challenge string) []byte {
	cd, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return cd
}

// options reads the challenge (and for create the user handle) from a
// ceremony's options.
func options(t *testing.T, c practice.Ceremony) (challenge string, user []byte) {
	raw, _ := json.Marshal(c.Options)
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(raw, &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("ceremony options %s: %v", raw, err)
	}
	user, _ = b64u.DecodeString(o.PublicKey.User.ID)
	return o.PublicKey.Challenge, user
}

// create answers a registration's options as navigator.credentials.create
// does, with the PRF output left out as the workspace leaves it out.
func (a *authenticator) create(c practice.Ceremony) json.RawMessage {
	challenge, user := options(a.t, c)
	a.user = user
	att := append(cborHead(5, 3), cborText("fmt")...)
	att = append(att, cborText("none")...)
	att = append(append(att, cborText("attStmt")...), cborHead(5, 0)...)
	att = append(append(att, cborText("authData")...), cborBytes(a.authData(true))...)
	out, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(a.id), "rawId": b64u.EncodeToString(a.id), "type": "public-key",
		"response": map[string]string{
			"clientDataJSON":    b64u.EncodeToString(a.clientData("webauthn.create", challenge)),
			"attestationObject": b64u.EncodeToString(att),
		},
		"clientExtensionResults": map[string]any{"prf": map[string]bool{"enabled": true}},
	})
	return out
}

// get answers a login's options as navigator.credentials.get does;
// spoil changes a byte of the signed data after signing.
func (a *authenticator) get(c practice.Ceremony, spoil bool) json.RawMessage {
	challenge, _ := options(a.t, c)
	a.count++
	ad := a.authData(false)
	cd := a.clientData("webauthn.get", challenge)
	h := sha256.Sum256(cd)
	// ES256: ECDSA over SHA-256(authenticatorData ‖ SHA-256(clientDataJSON)).
	digest := sha256.Sum256(append(bytes.Clone(ad), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		a.t.Fatal(err)
	}
	if spoil {
		ad[len(ad)-1] ^= 1
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(a.id), "rawId": b64u.EncodeToString(a.id), "type": "public-key",
		"response": map[string]string{
			"clientDataJSON": b64u.EncodeToString(cd), "authenticatorData": b64u.EncodeToString(ad),
			"signature": b64u.EncodeToString(sig), "userHandle": b64u.EncodeToString(a.user),
		},
		"clientExtensionResults": map[string]any{},
	})
	return out
}

// named sends b's requests to the server by the name "localhost", as a
// browser at http://localhost:PORT does: WebAuthn has no IP-address sites.
func named(b *browser) func(method, path string, in, out any, hdr ...string) int {
	host := "localhost:" + b.s.URL[len("http://127.0.0.1:"):]
	return func(method, path string, in, out any, hdr ...string) int {
		b.t.Helper()
		return b.doAt(host, method, path, in, out, hdr...)
	}
}

// passkeyLogin runs a passkey login in b (begin and finish) and returns
// the status and session.
func passkeyLogin(t *testing.T, b *browser, a *authenticator, spoil bool) (int, practice.Session, string) {
	t.Helper()
	do := named(b)
	var c practice.Ceremony
	if code := do("POST", "/login/passkey/begin", map[string]any{}, &c); code != 200 {
		var e protocol.ErrorBody
		do("POST", "/login/passkey/begin", map[string]any{}, &e)
		return code, practice.Session{}, e.Error.Code
	}
	var raw json.RawMessage
	code := do("POST", "/login/passkey/finish", practice.PasskeyAssertion{Ceremony: c.Ceremony, Credential: a.get(c, spoil)}, &raw)
	var sess practice.Session
	var e protocol.ErrorBody
	_ = json.Unmarshal(raw, &sess)
	_ = json.Unmarshal(raw, &e)
	if code == 200 {
		b.csrf = sess.CSRF
	}
	return code, sess, e.Error.Code
}

// TestPasskeys: a user adds a passkey from an approved browser and logs
// in with it without the password; the same browser gets the practice
// key wrapped under the passkey's PRF, a new browser waits for approval
// and gets it only after; wrong signatures, spent and expired ceremonies
// are refused, and wrong answers count like wrong passwords.
func TestPasskeys(t *testing.T) {
	s := testutil.StartServer(t)
	admin, asess, _ := setUp(t, s, s.SetupToken, "anna@praxis.example", "Dr. Anna Berg")
	do := named(admin)
	host := "http://localhost:" + s.URL[len("http://127.0.0.1:"):]
	key := newAuthenticator(t, host)

	if code := admin.errCode("POST", "/passkeys/register/begin", map[string]any{}, 400); code != api.CodePasskeyHost {
		t.Errorf("registration at an IP address: %s, want %s", code, api.CodePasskeyHost)
	}
	var e protocol.ErrorBody
	if code := do("POST", "/passkeys/register/begin", map[string]any{}, &e, "X-Konsil-CSRF", "forged"); code != 403 || e.Error.Code != api.CodeCSRF {
		t.Errorf("registration without the CSRF token: %d %s", code, e.Error.Code)
	}
	var c practice.Ceremony
	if code := do("POST", "/passkeys/register/begin", nil, &c); code != 200 || c.Ceremony == "" {
		t.Fatalf("register begin: %d %+v", code, c)
	}
	wrapped := sealed(60)
	var added practice.PasskeyView
	reg := practice.PasskeyRegistration{Ceremony: c.Ceremony, Credential: key.create(c), WrappedKey: wrapped, Label: "Laptop"}
	if code := do("POST", "/passkeys/register/finish", reg, &added); code != 201 || !added.PRF || added.Label != "Laptop" || added.ID != b64u.EncodeToString(key.id) {
		t.Fatalf("register finish: %d %+v", code, added)
	}
	if string(key.user) != asess.User.ID {
		t.Errorf("user handle %q, want the user's id", key.user)
	}
	e = protocol.ErrorBody{}
	if code := do("POST", "/passkeys/register/finish", reg, &e); code != 410 || e.Error.Code != api.CodePasskeyCeremony {
		t.Errorf("a registration finished twice: %d %s", code, e.Error.Code)
	}
	var list []practice.PasskeyView
	if admin.do("GET", "/passkeys", nil, &list); len(list) != 1 || list[0].WrappedKey != wrapped {
		t.Fatalf("passkeys: %+v", list)
	}

	t.Run("the same browser logs in by passkey with its key", func(t *testing.T) {
		admin.t = t
		if code := admin.do("POST", "/logout", map[string]any{}, nil); code != 204 {
			t.Fatalf("logout: %d", code)
		}
		admin.csrf = ""
		code, sess, ecode := passkeyLogin(t, admin, key, false)
		if code != 200 || !sess.Device.Approved || sess.User.ID != asess.User.ID || sess.Passkey == nil || sess.Passkey.WrappedKey != wrapped || sess.Device.ID != asess.Device.ID {
			t.Fatalf("passkey login: %d %s %+v %+v", code, ecode, sess.Device, sess.Passkey)
		}
		if code := admin.do("GET", "/users", nil, nil); code != 200 {
			t.Errorf("the passkey session: GET users %d", code)
		}
		var again []practice.PasskeyView
		if admin.do("GET", "/passkeys", nil, &again); len(again) != 1 || again[0].LastUsed.IsZero() {
			t.Errorf("last use not kept: %+v", again)
		}
	})

	t.Run("a new browser waits for approval", func(t *testing.T) {
		admin.t = t
		tablet := newWorkspaceBrowser(t, s)
		code, sess, ecode := passkeyLogin(t, tablet, key, false)
		if code != 200 || sess.Device.Approved || len(sess.Device.Code) != 6 || sess.WrappedKey != "" || sess.Passkey == nil || sess.Passkey.WrappedKey != "" || !sess.Passkey.PRF {
			t.Fatalf("passkey login on a new browser: %d %s %+v %+v key %q", code, ecode, sess.Device, sess.Passkey, sess.WrappedKey)
		}
		if code := tablet.errCode("GET", "/passkeys", nil, 403); code != api.CodeDevicePending {
			t.Errorf("a pending browser lists passkeys: %s", code)
		}
		if code := admin.do("POST", "/devices/"+sess.Device.ID+"/approve", map[string]string{"code": sess.Device.Code}, nil); code != 200 {
			t.Fatalf("approve: %d", code)
		}
		var l []practice.PasskeyView
		if tablet.do("GET", "/passkeys", nil, &l); len(l) != 1 || l[0].WrappedKey != wrapped {
			t.Errorf("the approved browser's passkeys: %+v", l)
		}
	})

	t.Run("another practice sees and removes none", func(t *testing.T) {
		other, _ := otherPractice(t, s)
		var l []practice.PasskeyView
		if other.do("GET", "/passkeys", nil, &l); len(l) != 0 {
			t.Errorf("practice B lists %+v", l)
		}
		if code := other.errCode("DELETE", "/passkeys/"+added.ID, nil, 404); code != api.CodeNotFound {
			t.Errorf("practice B removes A's passkey: %s", code)
		}
	})

	t.Run("an expired ceremony is refused", func(t *testing.T) {
		b := newWorkspaceBrowser(t, s)
		var lc practice.Ceremony
		if code := named(b)("POST", "/login/passkey/begin", nil, &lc); code != 200 {
			t.Fatalf("begin: %d", code)
		}
		s.Clock.Advance(practice.CeremonyTTL + time.Second)
		var e protocol.ErrorBody
		if code := named(b)("POST", "/login/passkey/finish", practice.PasskeyAssertion{Ceremony: lc.Ceremony, Credential: key.get(lc, false)}, &e); code != 410 || e.Error.Code != api.CodePasskeyCeremony {
			t.Errorf("finish after %v: %d %s", practice.CeremonyTTL, code, e.Error.Code)
		}
	})

	t.Run("wrong signatures are refused and counted", func(t *testing.T) {
		b := newWorkspaceBrowser(t, s)
		code, _, ecode := passkeyLogin(t, b, key, true)
		if code != 401 || ecode != api.CodePasskey {
			t.Fatalf("a spoilt signature: %d %s, want 401 %s", code, ecode, api.CodePasskey)
		}
		var blocked bool
		for range 20 {
			if code, _, ecode = passkeyLogin(t, b, key, true); code == 429 {
				blocked = ecode == api.CodeRateLimited
				break
			}
		}
		if !blocked {
			t.Errorf("wrong passkey answers never blocked the address: last %d %s", code, ecode)
		}
		if code, _, _ := passkeyLogin(t, b, key, false); code != 429 {
			t.Errorf("a right passkey from the blocked address: %d, want 429", code)
		}
	})

	t.Run("the user removes the passkey", func(t *testing.T) {
		admin.t = t
		if code := admin.do("DELETE", "/passkeys/"+added.ID, nil, nil); code != 204 {
			t.Fatalf("delete: %d", code)
		}
		var l []practice.PasskeyView
		if admin.do("GET", "/passkeys", nil, &l); len(l) != 0 {
			t.Errorf("after delete: %+v", l)
		}
	})
}

// TestPasskeyBeginsLimited: a passkey login's first step needs nobody
// known and writes a ceremony record, so one address gets 30 at once
// and then one every 10 s.
func TestPasskeyBeginsLimited(t *testing.T) {
	s := testutil.StartServer(t)
	do := named(newWorkspaceBrowser(t, s))
	for i := 1; i <= 30; i++ {
		if code := do("POST", "/login/passkey/begin", nil, nil); code != 200 {
			t.Fatalf("begin %d: %d, want 200", i, code)
		}
	}
	var e protocol.ErrorBody
	if code := do("POST", "/login/passkey/begin", nil, &e); code != 429 || e.Error.Code != api.CodeRateLimited {
		t.Errorf("begin 31: %d %s, want 429 %s", code, e.Error.Code, api.CodeRateLimited)
	}
	s.Clock.Advance(10 * time.Second)
	if code := do("POST", "/login/passkey/begin", nil, nil); code != 200 {
		t.Errorf("a begin 10 s later: %d, want 200", code)
	}
}
