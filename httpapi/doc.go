// Package httpapi is the agent's HTTP API over the service: the routes
// and the role each needs, authentication by token (auth.go), the checks
// that keep a foreign page from writing (csrf.go), the handlers that turn
// requests into service calls and errors into JSON, the request metrics,
// and beside them the Client the CLI uses, which implements the same
// interfaces as the service. The web pages are in httpapi/ui.
package httpapi
