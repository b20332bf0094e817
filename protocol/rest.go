package protocol

import "time"

// Room modes. A room of capacity 2 is a peer-to-peer consultation; larger
// rooms are conferences through the SFU.
const (
	ModeP2P = "p2p"
	ModeSFU = "sfu"
)

// Participant roles.
const (
	RoleHost  = "host"
	RoleGuest = "guest"
)

// Error is the body of every REST error: {"error": {...}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// OpensAt is set with room_not_open.
	OpensAt *time.Time `json:"opens_at,omitempty"`
	// ResetsAt is set with quota_exceeded: when the monthly count starts anew.
	ResetsAt *time.Time `json:"resets_at,omitempty"`
	// RetryAfterSeconds is set with rate_limited.
	RetryAfterSeconds int `json:"retry_after_seconds,omitempty"`
	// AttemptsLeft is set with device_code: wrong codes the pending
	// browser still survives (0: it was removed).
	AttemptsLeft *int `json:"attempts_left,omitempty"`
}

// ErrorBody wraps Error the way the API sends it.
type ErrorBody struct {
	Error Error `json:"error"`
}

// WindowRequest names when a room may be entered: either a calendar Day in
// TimeZone (valid from local midnight to the next local midnight), or a
// Start instant plus Hours (24 when zero).
type WindowRequest struct {
	Day      string     `json:"day,omitempty"`
	TimeZone string     `json:"time_zone,omitempty"`
	Start    *time.Time `json:"start,omitempty"`
	Hours    int        `json:"hours,omitempty"`
}

// ParticipantRequest is one participant of a new room.
type ParticipantRequest struct {
	Role string `json:"role"`
	// Label is an operator's pseudonymous tag ("Sprechzimmer 2"), not a name.
	Label string `json:"label,omitempty"`
}

// RoomRequest is the body of POST /api/v1/rooms.
type RoomRequest struct {
	Window       WindowRequest        `json:"window"`
	Capacity     int                  `json:"capacity"`
	Participants []ParticipantRequest `json:"participants"`
	// WaitingRoom makes guests wait until admitted (docs/PROTOCOL.md,
	// "Waiting room"); the clinician workspace admits them.
	WaitingRoom bool `json:"waiting_room,omitempty"`
}

// Window is a room's validity as absolute instants.
type Window struct {
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	TimeZone string    `json:"time_zone,omitempty"`
}

// Participant describes one participant of a room. Token, Code and Link are
// present only in the answer to room creation: the server keeps their hashes.
type Participant struct {
	ID    string `json:"id"`
	Role  string `json:"role"`
	Label string `json:"label,omitempty"`
	Token string `json:"token,omitempty"`
	Code  string `json:"code,omitempty"`
	Link  string `json:"link,omitempty"`
}

// Room is the API's view of a room.
type Room struct {
	ID           string        `json:"id"`
	Mode         string        `json:"mode"`
	Capacity     int           `json:"capacity"`
	Window       Window        `json:"window"`
	CreatedAt    time.Time     `json:"created_at"`
	Participants []Participant `json:"participants"`
	WaitingRoom  bool          `json:"waiting_room,omitempty"`
}

// RoomList is the answer to GET /api/v1/rooms.
type RoomList struct {
	Rooms []Room `json:"rooms"`
}

// JoinRequest is the body of POST /api/v1/join: exactly one of Token (from
// a link) or Code (typed by a person).
type JoinRequest struct {
	Token string `json:"token,omitempty"`
	Code  string `json:"code,omitempty"`
}

// ICEServer is one STUN or TURN server, shaped like RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// JoinResponse is the answer to a successful join.
type JoinResponse struct {
	SessionToken  string      `json:"session_token"`
	ExpiresAt     time.Time   `json:"expires_at"`
	RoomID        string      `json:"room_id"`
	ParticipantID string      `json:"participant_id"`
	Role          string      `json:"role"`
	Mode          string      `json:"mode"`
	Capacity      int         `json:"capacity"`
	ICEServers    []ICEServer `json:"ice_servers"`
	WebSocketURL  string      `json:"ws_url"`
	WindowEndsAt  time.Time   `json:"window_ends_at"`
}

// TenantRequest creates or changes a tenant.
type TenantRequest struct {
	Name string `json:"name"`
	// MonthlyCallQuota limits calls per calendar month (UTC); 0 means none.
	MonthlyCallQuota int `json:"monthly_call_quota"`
}

// Tenant is the API's view of a tenant.
type Tenant struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	MonthlyCallQuota int       `json:"monthly_call_quota"`
	CallsThisMonth   int       `json:"calls_this_month"`
	CreatedAt        time.Time `json:"created_at"`
}

// TenantList is the answer to GET /api/v1/tenants.
type TenantList struct {
	Tenants []Tenant `json:"tenants"`
}

// APIKey describes a key. Secret is present only in the answer to creation.
type APIKey struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"created_at"`
	Secret    string    `json:"key,omitempty"`
}

// APIKeyList is the answer to GET /api/v1/tenants/{id}/keys.
type APIKeyList struct {
	Keys []APIKey `json:"keys"`
}
