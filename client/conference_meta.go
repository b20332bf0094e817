package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/konsil/konsil/client/e2ee"
	"github.com/konsil/konsil/protocol"
)

// Names and mute states in a conference, as the browser app sends them
// (client/web/static/js/conference.js; docs/SECURITY.md, "Mute state in
// conferences"): each sealed with the names key and sent in a meta
// message to each other participant, never through the SFU's data
// channel, so the server relays them without reading them. The state
// below is owned by the loop (or by DialConference before it starts).

// EventPeerMute: a participant's mute state arrived, opened and newer
// than the one before (Mute; Peer names the participant). Conferences
// with a RoomSecret only.
const EventPeerMute EventType = "peer-mute"

// ErrNoRoomSecret is returned by Conference.SetMute without
// ConferenceOptions.RoomSecret: a mute state is only ever sent sealed.
var ErrNoRoomSecret = errors.New("client: mute state needs a room secret")

// greet sends what a participant that appears needs from us, our name
// and mute state, to each of peers: those of a welcome, or one that
// joined or came back. Like the browser, we do not wait for it to ask.
func (c *Conference) greet(peers ...protocol.Peer) {
	if c.keys == nil {
		return
	}
	for _, p := range peers {
		if c.opts.Name != "" {
			if sealed, err := e2ee.SealName(c.keys.Names, c.self, c.opts.Name); err == nil {
				c.sendMetaQuiet(p.ID, e2ee.EncodeMeta(e2ee.Meta{Kind: e2ee.MetaName, Value: sealed}))
			}
		}
		if c.mute != nil {
			if data, err := c.mutePayload(); err == nil {
				c.sendMetaQuiet(p.ID, data)
			}
		}
	}
}

// mutePayload is meta.data of our current mute state, sealed anew.
func (c *Conference) mutePayload() (string, error) {
	state, err := c.mute.Encode()
	if err != nil {
		return "", err
	}
	sealed, err := e2ee.SealMute(c.keys.Names, c.self, state)
	if err != nil {
		return "", err
	}
	return e2ee.EncodeMeta(e2ee.Meta{Kind: e2ee.MetaMute, Value: sealed}), nil
}

func (c *Conference) sendMetaQuiet(to, data string) {
	if err := c.sig.Send(protocol.Message{Type: protocol.TypeMeta, To: to, Data: data}); err != nil {
		c.log.Debug("send meta", "err", err)
	}
}

// SetMute tells every other participant, now and as they join or come
// back, whether our microphone and camera are off (docs/SECURITY.md,
// "Mute state in conferences"). It sends at once, one meta message per
// participant; a call that changes nothing sends nothing. The browser
// app gathers changes within 250 ms into one message; a program that
// toggles faster should do the same, or it runs into the signaling rate
// limit (docs/PROTOCOL.md, Limits). It needs ConferenceOptions.RoomSecret
// (ErrNoRoomSecret) and does not change what the tracks send.
func (c *Conference) SetMute(micOff, cameraOff bool) error {
	if c.keys == nil {
		return ErrNoRoomSecret
	}
	return c.do(func() error {
		held := c.mute
		if held != nil && held.MicOff == micOff && held.CameraOff == cameraOff {
			return nil
		}
		// Strictly later than our last state, so that a receiver never
		// takes the older one for newer, whatever the clock did.
		ms := c.now().UnixMilli()
		if held != nil && ms <= held.At.UnixMilli() {
			ms = held.At.UnixMilli() + 1
		}
		next := e2ee.MuteState{MicOff: micOff, CameraOff: cameraOff, At: time.UnixMilli(ms)}
		if _, err := next.Encode(); err != nil {
			return fmt.Errorf("set mute: %w", err)
		}
		c.mute = &next
		data, err := c.mutePayload()
		if err != nil {
			return fmt.Errorf("set mute: %w", err)
		}
		var errs []error
		for _, p := range c.Peers() {
			if err := c.sig.Send(protocol.Message{Type: protocol.TypeMeta, To: p.ID, Data: data}); err != nil {
				errs = append(errs, fmt.Errorf("set mute: to %s: %w", p.ID, err))
			}
		}
		return errors.Join(errs...)
	})
}

// onMeta handles a meta message from another participant. Without a
// room secret it goes on as EventMeta. With one, a name or mute state is
// opened and reported (EventPeerName, EventPeerMute); one that does not
// open (another room secret, another sender) is dropped without an
// event, as the browser leaves that participant's name unknown. Other
// kinds go on as EventMeta, as in a Call.
func (c *Conference) onMeta(m protocol.Message) {
	from := protocol.Peer{ID: m.From}
	if c.keys == nil || m.From == sfuPeer {
		c.emit(Event{Type: EventMeta, Peer: from, Data: m.Data})
		return
	}
	meta, err := e2ee.DecodeMeta(m.Data)
	if err != nil {
		c.emit(Event{Type: EventMeta, Peer: from, Data: m.Data})
		return
	}
	switch meta.Kind {
	case e2ee.MetaName:
		name, err := e2ee.OpenName(c.keys.Names, m.From, meta.Value)
		if err != nil {
			c.log.Debug("dropping a name that does not open", "from", m.From, "err", err)
			return
		}
		c.emit(Event{Type: EventPeerName, Peer: from, Data: name})
	case e2ee.MetaMute:
		state, err := c.openMute(m.From, meta.Value)
		if err != nil {
			c.log.Debug("dropping a mute state that does not open", "from", m.From, "err", err)
			return
		}
		if held, ok := c.heard[m.From]; ok && !state.Replaces(held) {
			return
		}
		c.heard[m.From] = state
		c.emit(Event{Type: EventPeerMute, Peer: from, Mute: state})
	default:
		c.emit(Event{Type: EventMeta, Peer: from, Data: m.Data})
	}
}

func (c *Conference) openMute(sender string, sealed []byte) (e2ee.MuteState, error) {
	pt, err := e2ee.OpenMute(c.keys.Names, sender, sealed)
	if err != nil {
		return e2ee.MuteState{}, err
	}
	return e2ee.DecodeMuteState(pt)
}
