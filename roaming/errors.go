package roaming

import "errors"

// Sentinel errors, wrapped with %w and tested with errors.Is.
var (
	// ErrUnknownCluster: a DUNDi config was asked for a cluster that is not
	// in the clusters table.
	ErrUnknownCluster = errors.New("unknown cluster")
	// ErrBadRequest: a filter, sort column, severity or option is invalid.
	ErrBadRequest = errors.New("invalid request")
	// ErrUnknownFinding: an acknowledgement names no current finding.
	ErrUnknownFinding = errors.New("unknown finding")
	// ErrMalformed: a stored record cannot be read (a bug or a damaged store).
	ErrMalformed = errors.New("malformed record")
	// ErrBadConfig: a generated file failed its own check (a bug, or data
	// that cannot be expressed in Asterisk's syntax).
	ErrBadConfig = errors.New("generated configuration does not check")
)
