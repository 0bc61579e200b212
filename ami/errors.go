package ami

import "errors"

var (
	// ErrAuth means Asterisk refused the user name or secret.
	ErrAuth = errors.New("ami: authentication failed")
	// ErrClosed means the connection is closed or was lost.
	ErrClosed = errors.New("ami: connection closed")
	// ErrNotConnected means the client has no connection right now.
	ErrNotConnected = errors.New("ami: not connected to Asterisk")
	// ErrProtocol means Asterisk sent something that is not AMI.
	ErrProtocol = errors.New("ami: protocol error")
	// ErrActionFailed means Asterisk answered an action with an error.
	ErrActionFailed = errors.New("ami: action failed")
	// ErrPermission means the manager user may not send an action apply
	// needs (manager.conf's write classes).
	ErrPermission = errors.New("ami: permission denied")
	// ErrInvalid means a caller's input (file name, module, setting) is wrong.
	ErrInvalid = errors.New("ami: invalid input")
)

// ActionError is Asterisk's error answer to an action.
type ActionError struct {
	Action  string
	Message string // Asterisk's "Message:" text
}

func (e *ActionError) Error() string {
	return "ami: " + e.Action + ": Asterisk answered: " + e.Message
}

func (e *ActionError) Unwrap() error { return ErrActionFailed }
