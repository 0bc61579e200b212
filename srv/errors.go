package srv

import "errors"

// Sentinel errors; the messages around them name the setting or record and
// say what to change.
var (
	// ErrConfig: a setting is invalid.
	ErrConfig = errors.New("invalid dns setting")
	// ErrCluster: a cluster record cannot be published (bad VIP, port...).
	ErrCluster = errors.New("cluster cannot be published")
	// ErrClosed: the server or checker was closed.
	ErrClosed = errors.New("closed")
	// ErrSIP: a SIP message could not be parsed.
	ErrSIP = errors.New("malformed SIP message")
)
