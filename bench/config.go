// Package bench is Konsil's load harness: it creates rooms through the
// REST API with a tenant key, joins them with the Go client SDK as many
// participants, sends synthetic VP8- and Opus-shaped frames that carry
// their own sequence number and send time inside the (SFrame-encrypted)
// payload, and measures what arrives, how long joining took, and what
// the server's CPU and memory did meanwhile (its /metrics).
//
// Receivers read the stamps only after decryption, so latency and loss
// are measured without trusting the server. The bench never talks to
// anything but the URL it is given, removes the rooms it made, and every
// phase is bounded by the configured duration and join timeout.
//
// It does not start servers: cmd/konsil-bench does that for `make bench`.
package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Scenario names the shape of the load.
type Scenario string

// Scenarios.
const (
	// Conference: Rooms rooms, each with VideoPublishers participants
	// sending camera and microphone, plus optional audio publishers and
	// subscribers; everyone receives everyone (the SFU forwards all).
	Conference Scenario = "conference"
	// Webinar: one room, a few publishers, many receive-only subscribers.
	Webinar Scenario = "webinar"
	// P2P: Rooms two-party consultations, both sides sending camera and
	// microphone peer to peer (or through the embedded TURN with Relay).
	P2P Scenario = "p2p"
)

// Config is one bench run.
type Config struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:8080. Nothing
	// else is contacted (ICE goes where the join answer says: the
	// server's own SFU and TURN ports).
	URL string
	// APIKey is a tenant key: rooms are created and deleted with it.
	APIKey string

	Scenario Scenario
	// Preset is the name of the preset the config came from, for the report.
	Preset string
	// Rooms is the number of conference rooms, or of P2P consultations.
	Rooms int
	// VideoPublishers per room send video (and audio with PublisherAudio).
	VideoPublishers int
	// PublisherAudio: video publishers send a microphone too.
	PublisherAudio bool
	// AudioPublishers per room send audio only.
	AudioPublishers int
	// Subscribers per room send nothing and receive everything.
	Subscribers int

	// VideoBitrate and AudioBitrate are the media bitrates asked for, in
	// bit/s; FrameRate is video frames per second; KeyframeInterval the
	// distance between video keyframes.
	VideoBitrate, AudioBitrate int
	FrameRate                  int
	KeyframeInterval           time.Duration

	// Simulcast: conference and webinar video publishers send three
	// simulcast layers (q, h, f at 10, 25 and 65 % of VideoBitrate, each
	// with keyframes of its own) instead of one layer of VideoBitrate.
	// P2P calls always send one layer.
	Simulcast bool
	// ViewWidth × ViewHeight is the tile size every receiver tells the
	// SFU it shows each video publisher at (the `view` message): the SFU
	// sends no bigger layer than it needs. 1280×720 asks for the full
	// layer; 0×0 would mean "not shown".
	ViewWidth, ViewHeight int

	// E2EE: conference media is SFrame-encrypted with a room secret, and
	// P2P calls run the fingerprint check. Off: frames go as they are.
	E2EE bool
	// Relay sends P2P media through the server's TURN relay only.
	Relay bool
	// LoopbackOnly gathers only 127.0.0.1 candidates; New sets it when the
	// URL's host is a loopback name or address.
	LoopbackOnly bool

	// RampRate is how many participants start joining per second.
	RampRate float64
	// JoinTimeout bounds one participant's join up to connected media.
	JoinTimeout time.Duration
	// Duration is how long load is measured once everyone has joined (or
	// JoinTimeout has passed for the last one).
	Duration time.Duration

	// ServerInProcess: the server runs in this process (tests), so its
	// /metrics CPU includes the bench's own.
	ServerInProcess bool
	// Progress receives a live status line every second; nil: none.
	Progress io.Writer
	// Logger receives lifecycle logs; nil discards them.
	Logger *slog.Logger
}

// Limits of one run: the bench is a tool to point at your own server,
// not a flood.
const (
	maxParticipants = 2000
	maxRoomSize     = 50 // the SFU's capacity
	maxBitrate      = 20_000_000
	maxDuration     = 24 * time.Hour
	maxRooms        = 1000
	maxRampRate     = 1000 // joins started per second
	maxJoinTimeout  = 5 * time.Minute
	maxViewSide     = 16384 // docs/PROTOCOL.md, view
)

// ErrConfig wraps every reason a Config is refused.
var ErrConfig = errors.New("bench: invalid config")

// Presets are named load points comparable with LiveKit's published
// benchmarks (its video publishers send video only): 2 video publishers
// × 10 subscribers, 4 × 20, and 1 video + 6 audio publishers × 40.
var presets = map[string]Config{
	"lk-2x10":    {Scenario: Webinar, Rooms: 1, VideoPublishers: 2, Subscribers: 10},
	"lk-4x20":    {Scenario: Webinar, Rooms: 1, VideoPublishers: 4, Subscribers: 20},
	"lk-1v6ax40": {Scenario: Webinar, Rooms: 1, VideoPublishers: 1, AudioPublishers: 6, Subscribers: 40},
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Default is a small conference: one room of three, each sending
// camera (1 Mbit/s in three simulcast layers, 30 fps) and microphone
// (32 kbit/s), SFrame on, everyone shown at 1280×720.
func Default() Config {
	return Config{
		Scenario: Conference, Rooms: 1, VideoPublishers: 3, PublisherAudio: true,
		VideoBitrate: 1_000_000, AudioBitrate: 32_000, FrameRate: 30,
		KeyframeInterval: 2 * time.Second, E2EE: true,
		Simulcast: true, ViewWidth: frameWidth, ViewHeight: frameHeight,
		RampRate: 10, JoinTimeout: 20 * time.Second, Duration: 30 * time.Second,
	}
}

// ApplyPreset changes c's scenario and room shape to the named preset,
// keeping bitrates, duration and the rest.
func (c *Config) ApplyPreset(name string) error {
	p, ok := presets[name]
	if !ok {
		return fmt.Errorf("%w: unknown preset %q (have %s)", ErrConfig, name, strings.Join(PresetNames(), ", "))
	}
	c.Preset = name
	c.Scenario, c.Rooms = p.Scenario, p.Rooms
	c.VideoPublishers, c.AudioPublishers, c.Subscribers = p.VideoPublishers, p.AudioPublishers, p.Subscribers
	c.PublisherAudio = p.PublisherAudio
	return nil
}

// RoomSize is the number of participants per room.
func (c *Config) RoomSize() int {
	if c.Scenario == P2P {
		return 2
	}
	return c.VideoPublishers + c.AudioPublishers + c.Subscribers
}

// Participants is the number of participants of the run.
func (c *Config) Participants() int { return c.Rooms * c.RoomSize() }

// Validate checks c and fills in LoopbackOnly from the URL.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("url %q: want http(s)://host[:port]", c.URL)
	}
	if isLoopback(u.Hostname()) {
		c.LoopbackOnly = true
	}
	if c.APIKey == "" {
		return bad("a tenant API key is required to create rooms")
	}
	return c.CheckLoad()
}

// CheckLoad checks the load c asks for, without the URL and key: every
// loop of a run is bounded by these limits.
func (c *Config) CheckLoad() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Scenario != Conference && c.Scenario != Webinar && c.Scenario != P2P:
		return bad("unknown scenario %q (conference, webinar, p2p)", c.Scenario)
	case c.Rooms < 1 || c.Rooms > maxRooms:
		return bad("rooms %d out of range 1..%d", c.Rooms, maxRooms)
	case c.VideoPublishers < 0 || c.AudioPublishers < 0 || c.Subscribers < 0:
		return bad("publishers and subscribers must not be negative")
	case c.Scenario != P2P && c.RoomSize() < 3:
		return bad("a conference room needs at least 3 participants, got %d", c.RoomSize())
	case c.Scenario != P2P && c.RoomSize() > maxRoomSize:
		return bad("a conference room holds at most %d participants, got %d", maxRoomSize, c.RoomSize())
	case c.Scenario != P2P && c.VideoPublishers+c.AudioPublishers < 1:
		return bad("a room needs at least one publisher")
	case c.Participants() > maxParticipants:
		return bad("at most %d participants per run, got %d", maxParticipants, c.Participants())
	case c.VideoBitrate < 10_000 || c.VideoBitrate > maxBitrate:
		return bad("video bitrate %d bit/s out of range 10k..%d", c.VideoBitrate, maxBitrate)
	case c.AudioBitrate < 6_000 || c.AudioBitrate > 510_000:
		return bad("audio bitrate %d bit/s out of Opus's range 6k..510k", c.AudioBitrate)
	case c.FrameRate < 1 || c.FrameRate > 120:
		return bad("frame rate %d out of range 1..120", c.FrameRate)
	case c.KeyframeInterval < time.Second/time.Duration(c.FrameRate):
		return bad("keyframe interval %v shorter than one frame", c.KeyframeInterval)
	case c.RampRate <= 0 || c.RampRate > maxRampRate:
		return bad("ramp %v joins/s out of range (0, %d]", c.RampRate, maxRampRate)
	case c.JoinTimeout <= 0 || c.JoinTimeout > maxJoinTimeout:
		return bad("join timeout %v out of range (0, %v]", c.JoinTimeout, maxJoinTimeout)
	case c.Duration <= 0 || c.Duration > maxDuration:
		return bad("duration %v out of range (0, %v]", c.Duration, maxDuration)
	case c.ViewWidth < 0 || c.ViewHeight < 0 || c.ViewWidth > maxViewSide || c.ViewHeight > maxViewSide:
		return bad("view %d×%d out of range 0..%d", c.ViewWidth, c.ViewHeight, maxViewSide)
	case c.Relay && c.Scenario != P2P:
		return bad("--relay applies to p2p consultations only")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
