package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version is the signaling protocol version carried in hello and welcome.
const Version = 1

// MaxMessageBytes bounds one signaling message. An SDP with many codecs and
// extensions stays near 10 KiB; 64 KiB leaves room without inviting abuse.
const MaxMessageBytes = 64 << 10

// Limits on single fields, so that a valid envelope cannot carry an
// oversized part into another client's browser.
const (
	maxIDBytes        = 64
	maxCandidateBytes = 1024
	maxMetaBytes      = 8 << 10
	maxReasonBytes    = 128
	maxTokenBytes     = 1024
	// MaxViews bounds the entries of one view message: a room holds at
	// most 50 participants, and a client lists each other one at most
	// once.
	MaxViews = 64
	// MaxViewPixels bounds a view's width and height: larger than any
	// screen, so that a client cannot make the SFU compute with nonsense.
	MaxViewPixels = 16384
)

// Message types. Client to server: hello, offer, answer, candidate, meta,
// view, ping, bye. Server to client: welcome, peer-joined, peer-left, offer,
// answer, candidate, meta, pong, error, closing, speaker.
const (
	TypeHello      = "hello"
	TypeWelcome    = "welcome"
	TypePeerJoined = "peer-joined"
	TypePeerLeft   = "peer-left"
	TypeOffer      = "offer"
	TypeAnswer     = "answer"
	TypeCandidate  = "candidate"
	TypeMeta       = "meta"
	TypePing       = "ping"
	TypePong       = "pong"
	TypeBye        = "bye"
	TypeError      = "error"
	TypeClosing    = "closing"
	// TypeSpeaker comes from the SFU (from "sfu") in a conference room
	// when the active speaker changes; Peer names it.
	TypeSpeaker = "speaker"
	// TypeView goes from a client to the SFU (to "sfu") in a conference
	// room: Views says how large it shows each other participant's
	// video, so that the SFU forwards no bigger simulcast layer than
	// needed, and none at all for a peer not shown (0×0).
	TypeView = "view"
	// TypeLobby goes to a guest of a room with a waiting room instead of
	// welcome, until the practice admits it; Host says who it waits for.
	TypeLobby = "lobby"
	// TypeCheck goes from a waiting guest to the server: OK is the result
	// of its pre-call device check, shown to the practice.
	TypeCheck = "check"
)

// Statuses of a waiting room's host.
const (
	HostOnline = "online"
	HostInCall = "in_call"
	HostAway   = "away"
)

// Closing reasons of the waiting room.
const (
	ReasonDeclined = "declined"
	ReasonSentBack = "sent_back"
)

// MaxTextBytes bounds the practice's message to a declined guest.
const MaxTextBytes = 500

// Host is whom a waiting guest waits for: the holder's display name and
// status (HostOnline, HostInCall, HostAway).
type Host struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// Error codes sent in error messages and close reasons.
const (
	CodeTooLarge       = "too_large"
	CodeMalformed      = "malformed"
	CodeUnknownType    = "unknown_type"
	CodeInvalid        = "invalid_message"
	CodeRateLimited    = "rate_limited"
	CodeUnauthorized   = "unauthorized"
	CodeRoomFull       = "room_full"
	CodeRoomClosed     = "room_closed"
	CodeUnknownPeer    = "unknown_peer"
	CodeReplaced       = "replaced"
	CodeHelloExpected  = "hello_expected"
	CodeVersion        = "unsupported_version"
	CodeRoomDeleted    = "room_deleted"
	CodeServerShutdown = "server_shutdown"
	CodeSlowConsumer   = "slow_consumer"
	// CodeServerFull: the SFU forwards as many subscriptions as it may;
	// the session goes on without media.
	CodeServerFull = "server_full"
	// CodeTooManyTracks: a participant published more than one audio or
	// one video track; the extra track is not forwarded.
	CodeTooManyTracks = "too_many_tracks"
	// CodeUnroutableMedia: the SFU received a simulcast stream without
	// the MID and RID header extensions and cannot forward it.
	CodeUnroutableMedia = "unroutable_media"
	// CodeNotAdmitted: a waiting guest sent what only admitted
	// participants may.
	CodeNotAdmitted = "not_admitted"
)

// Decoding errors. Callers branch on them with errors.Is and answer with the
// matching Code.
var (
	ErrTooLarge    = errors.New("message too large")
	ErrMalformed   = errors.New("malformed message")
	ErrUnknownType = errors.New("unknown message type")
	ErrInvalid     = errors.New("invalid message")
	ErrVersion     = errors.New("unsupported protocol version")
)

// Peer is one participant as other participants see it.
type Peer struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	// Reconnect is set on peer-joined when the peer replaced an earlier
	// session of its own: the receiver should expect or start an ICE restart.
	Reconnect bool `json:"reconnect,omitempty"`
	// KID is the SFrame key id of the participant's current session in a
	// conference room (RFC 9605 §4.3), assigned by the server: unique
	// within the room and never given to two sessions, so that no two
	// sessions ever encrypt with the same key and counters. Absent in
	// peer-to-peer rooms.
	KID uint64 `json:"kid,omitempty"`
}

// Candidate is an ICE candidate shaped like RTCIceCandidateInit.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// View is how large a client shows one other participant's video, in
// CSS pixels of the video element; 0×0 means not shown.
type View struct {
	Peer   string `json:"peer"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// ErrorInfo is the payload of an error message.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Message is one signaling message. Which fields are set depends on Type;
// docs/PROTOCOL.md lists them.
type Message struct {
	Type string `json:"type"`

	// hello, welcome
	V     int    `json:"v,omitempty"`
	Token string `json:"token,omitempty"`

	// welcome
	Self         *Peer      `json:"self,omitempty"`
	Peers        []Peer     `json:"peers,omitempty"`
	RoomID       string     `json:"room_id,omitempty"`
	Mode         string     `json:"mode,omitempty"`
	WindowEndsAt *time.Time `json:"window_ends_at,omitempty"`

	// offer, answer, candidate, meta: To from the client, From from the server.
	To        string     `json:"to,omitempty"`
	From      string     `json:"from,omitempty"`
	SDP       string     `json:"sdp,omitempty"`
	Candidate *Candidate `json:"candidate,omitempty"`
	// Data is opaque to the server (base64url ciphertext: the sender's
	// encrypted name, the HMAC of its DTLS fingerprint).
	Data string `json:"data,omitempty"`

	// peer-joined, peer-left
	Peer *Peer `json:"peer,omitempty"`

	// peer-left, bye, closing
	Reason string `json:"reason,omitempty"`

	// error
	Error *ErrorInfo `json:"error,omitempty"`

	// view
	Views []View `json:"views,omitempty"`

	// lobby
	Host *Host `json:"host,omitempty"`
	// check
	OK *bool `json:"ok,omitempty"`
	// closing (declined): the practice's message
	Text string `json:"text,omitempty"`
}

// Decode parses and validates one message received by the server from a
// client. It never panics; every refusal wraps one of the Err values and
// names the problem.
func Decode(raw []byte) (Message, error) {
	var m Message
	if len(raw) > MaxMessageBytes {
		return m, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), MaxMessageBytes)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := m.validateFromClient(); err != nil {
		return Message{}, err
	}
	return m, nil
}

func (m *Message) validateFromClient() error {
	switch m.Type {
	case TypeHello:
		if m.V != Version {
			return fmt.Errorf("%w: %d (this server speaks %d)", ErrVersion, m.V, Version)
		}
		return checkLen("token", m.Token, 1, maxTokenBytes)
	case TypeOffer, TypeAnswer:
		if err := checkLen("to", m.To, 1, maxIDBytes); err != nil {
			return err
		}
		return checkLen("sdp", m.SDP, 1, MaxMessageBytes)
	case TypeCandidate:
		if err := checkLen("to", m.To, 1, maxIDBytes); err != nil {
			return err
		}
		if m.Candidate == nil {
			return invalid("candidate: field candidate is required")
		}
		c := m.Candidate
		if c.SDPMid != nil {
			if err := checkLen("candidate.sdpMid", *c.SDPMid, 0, maxIDBytes); err != nil {
				return err
			}
		}
		if c.UsernameFragment != nil {
			if err := checkLen("candidate.usernameFragment", *c.UsernameFragment, 0, maxIDBytes*4); err != nil {
				return err
			}
		}
		// An empty candidate string is the end-of-candidates marker.
		return checkLen("candidate.candidate", c.Candidate, 0, maxCandidateBytes)
	case TypeMeta:
		if err := checkLen("to", m.To, 1, maxIDBytes); err != nil {
			return err
		}
		return checkLen("data", m.Data, 1, maxMetaBytes)
	case TypeView:
		if err := checkLen("to", m.To, 1, maxIDBytes); err != nil {
			return err
		}
		return checkViews(m.Views)
	case TypePing:
		return nil
	case TypeCheck:
		if m.OK == nil {
			return invalid("check: field ok is required")
		}
		return nil
	case TypeBye:
		return checkLen("reason", m.Reason, 0, maxReasonBytes)
	case "":
		return invalid("field type is required")
	default:
		if len(m.Type) > maxIDBytes {
			return fmt.Errorf("%w: (%d bytes)", ErrUnknownType, len(m.Type))
		}
		return fmt.Errorf("%w: %q", ErrUnknownType, m.Type)
	}
}

func checkViews(views []View) error {
	if len(views) > MaxViews {
		return invalid("field views has %d entries, limit %d", len(views), MaxViews)
	}
	for i, v := range views {
		if err := checkLen(fmt.Sprintf("views[%d].peer", i), v.Peer, 1, maxIDBytes); err != nil {
			return err
		}
		if v.Width < 0 || v.Width > MaxViewPixels || v.Height < 0 || v.Height > MaxViewPixels {
			return invalid("views[%d]: %d×%d is outside 0..%d", i, v.Width, v.Height, MaxViewPixels)
		}
	}
	return nil
}

func checkLen(field, v string, min, max int) error {
	switch {
	case len(v) < min:
		return invalid("field %s is required", field)
	case len(v) > max:
		return invalid("field %s is %d bytes, limit %d", field, len(v), max)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// CodeFor maps a Decode error to the code sent back to the client.
func CodeFor(err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return CodeTooLarge
	case errors.Is(err, ErrMalformed):
		return CodeMalformed
	case errors.Is(err, ErrUnknownType):
		return CodeUnknownType
	case errors.Is(err, ErrVersion):
		return CodeVersion
	default:
		return CodeInvalid
	}
}

// Polite tells whether self takes the polite role of perfect negotiation
// against peer: the participant with the greater id yields on glare. Both
// sides compute the same answer from the ids alone.
func Polite(self, peer string) bool { return self > peer }
