package testutil

import (
	"fmt"

	"github.com/pion/stun/v4"
	pturn "github.com/pion/turn/v5"
)

// TURNRefresh sends a Refresh request for c's allocation (RFC 8656 §7)
// with the given credential and returns the error code of the answer, 0
// on success. pion's client refreshes only on its own timer; tests that
// check a refresh is refused send one now. The first request learns the
// server's nonce from its 401.
func TURNRefresh(c *pturn.Client, user, pass string) (stun.ErrorCode, error) {
	var nonce stun.Nonce
	realm := c.Realm().String()
	for range 2 {
		setters := []stun.Setter{stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassRequest)}
		if nonce != nil {
			setters = append(setters, stun.NewUsername(user), stun.NewRealm(realm), nonce,
				stun.NewLongTermIntegrity(user, realm, pass))
		}
		msg, err := stun.Build(append(setters, stun.Fingerprint)...)
		if err != nil {
			return 0, fmt.Errorf("build refresh: %w", err)
		}
		res, err := c.PerformTransaction(msg, c.TURNServerAddr(), false)
		if err != nil {
			return 0, fmt.Errorf("refresh: %w", err)
		}
		if res.Msg.Type.Class == stun.ClassSuccessResponse {
			return 0, nil
		}
		var code stun.ErrorCodeAttribute
		if err := code.GetFrom(res.Msg); err != nil {
			return 0, fmt.Errorf("refresh answer without error code: %w", err)
		}
		if code.Code != stun.CodeUnauthorized || nonce != nil {
			return code.Code, nil
		}
		if err := nonce.GetFrom(res.Msg); err != nil {
			return 0, fmt.Errorf("401 without nonce: %w", err)
		}
		if r := new(stun.Realm); r.GetFrom(res.Msg) == nil {
			realm = r.String()
		}
	}
	return stun.CodeUnauthorized, nil
}
