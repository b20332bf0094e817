package redisstore

// keys names the Redis keys. Every key is the prefix, a fixed kind and
// at most one variable part at its end (an id, or a hash as raw bytes:
// Redis keys are binary-safe), so no id, whatever it contains, can make
// a key of another kind or another id. Records are JSON in the shapes of
// the bbolt store's; indexes are sets, hashes and sorted sets.
type keys struct{ prefix string }

func (k keys) key(kind, id string) string { return k.prefix + kind + ":" + id }

// Tenants and API keys.
func (k keys) tenant(id string) string            { return k.key("tenant", id) }                // tenantRecord
func (k keys) tenants() string                    { return k.prefix + "tenants" }               // set of tenant ids
func (k keys) apiKey(id string) string            { return k.key("apikey", id) }                // apiKeyRecord
func (k keys) apiKeyHash(hash []byte) string      { return k.key("apikey_hash", string(hash)) } // key id
func (k keys) tenantAPIKeys(tenant string) string { return k.key("apikeys_by_tenant", tenant) } // set of key ids ("" tenant: admin keys)

// Rooms, credentials and call counts.
func (k keys) room(id string) string            { return k.key("room", id) }                 // roomRecord
func (k keys) tenantRooms(tenant string) string { return k.key("rooms_by_tenant", tenant) }  // set of room ids
func (k keys) roomsByEnd() string               { return k.prefix + "rooms_by_end" }         // sorted set: room id by EndsAt (s)
func (k keys) credential(hash []byte) string    { return k.key("credential", string(hash)) } // credentialRecord
func (k keys) usage(tenant string) string       { return k.key("usage", tenant) }            // hash: 2006-01 -> call count

// The practice workspace.
func (k keys) user(id string) string              { return k.key("user", id) }                     // userRecord
func (k keys) userEmail(email string) string      { return k.key("user_email", email) }            // user id
func (k keys) tenantUsers(tenant string) string   { return k.key("users_by_tenant", tenant) }      // set of user ids
func (k keys) invite(hash []byte) string          { return k.key("invite", string(hash)) }         // inviteRecord
func (k keys) tenantInvites(tenant string) string { return k.key("invites_by_tenant", tenant) }    // set of invite hashes
func (k keys) invitesByExpiry() string            { return k.prefix + "invites_by_expiry" }        // sorted set: hash by ExpiresAt
func (k keys) session(hash []byte) string         { return k.key("login_session", string(hash)) }  // loginSessionRecord
func (k keys) userSessions(user string) string    { return k.key("login_sessions_by_user", user) } // set of session hashes
func (k keys) sessionsByExpiry() string           { return k.prefix + "login_sessions_by_expiry" } // sorted set: hash by ExpiresAt
func (k keys) appointment(id string) string       { return k.key("appointment", id) }              // appointmentRecord
func (k keys) tenantAppointments(tenant string) string {
	return k.key("appointments_by_tenant", tenant)
}                                                 // set of ids
func (k keys) roomAppointment(room string) string { return k.key("appointment_by_room", room) } // appointment id
func (k keys) appointmentsByEnd() string          { return k.prefix + "appointments_by_end" }   // sorted set: id by EndsAt

// Devices, settings and passkeys.
func (k keys) device(id string) string             { return k.key("device", id) }                       // deviceRecord
func (k keys) devices() string                     { return k.prefix + "devices" }                      // set of device ids
func (k keys) userDeviceHashes(user string) string { return k.key("device_hashes", user) }              // hash: raw cookie hash -> device id
func (k keys) tenantDevices(tenant string) string  { return k.key("devices_by_tenant", tenant) }        // set of device ids
func (k keys) settings(tenant string) string       { return k.key("settings", tenant) }                 // settingsRecord
func (k keys) passkey(id string) string            { return k.key("passkey", id) }                      // passkeyRecord
func (k keys) userPasskeys(user string) string     { return k.key("passkeys_by_user", user) }           // set of credential ids
func (k keys) tenantPasskeys(tenant string) string { return k.key("passkeys_by_tenant", tenant) }       // set of credential ids
func (k keys) ceremony(hash []byte) string         { return k.key("passkey_ceremony", string(hash)) }   // ceremonyRecord
func (k keys) ceremoniesByExpiry() string          { return k.prefix + "passkey_ceremonies_by_expiry" } // sorted set: hash by ExpiresAt
