// Package ui serves the web pages of the agent under /ui/: the enterprise
// status at a glance (with the replication topology drawn as SVG and the
// lag of the last hour), service availability, the roaming report, the
// audit with its acknowledgements, conflicts side by side, the history of
// a record and group status, for a NOC wall board.
//
// Pages are rendered on the server with html/template from templates and
// a stylesheet embedded in the binary, SVG included; a few lines of plain
// JavaScript sort tables in the browser and swap in the status page's
// live part (/ui/live) every few seconds. Access uses the API's tokens and roles: a login
// form takes a token and sets an HttpOnly session cookie, every form
// carries a CSRF token bound to the session, and secrets are shown to the
// admin role only.
//
// The data comes from the agent's Service (Data). The parts other
// packages provide (roaming report, service availability, DNS, AMI status)
// are optional interfaces in sources.go: nil renders as "no data".
package ui
