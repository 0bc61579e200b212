// Package ui serves the web pages of the agent under /ui/: the enterprise
// status at a glance, service availability, the roaming report, conflicts
// side by side and group status, for a NOC wall board.
//
// Pages are rendered on the server with html/template from templates and
// a stylesheet embedded in the binary; a few lines of plain JavaScript sort
// tables in the browser. Access uses the API's tokens and roles: a login
// form takes a token and sets an HttpOnly session cookie, every form
// carries a CSRF token bound to the session, and secrets are shown to the
// admin role only.
//
// The data comes from the agent's Service (Data). The parts other
// packages provide (roaming report, service availability, DNS, AMI status)
// are optional interfaces in sources.go: nil renders as "no data".
package ui
