// Package docs holds Konsil's interface descriptions: openapi.yaml (the
// REST API) and PROTOCOL.md (the signaling protocol). It embeds the OpenAPI
// document so that tests can hold it against the router without relative
// paths; it imports nothing of the server.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml. Treat it as read-only.
//
//go:embed openapi.yaml
var OpenAPI []byte
