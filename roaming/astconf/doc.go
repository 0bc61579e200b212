// Package astconf reads Asterisk configuration files the way Asterisk's
// own loader (main/config.c) does, and checks dundi.conf and
// extensions.conf against what pbx_dundi.c and the dialplan accept.
//
// Asterisk logs a warning for a bad line and carries on, and it accepts
// some mistakes silently (a misspelled [general] key, an unknown channel
// technology): `module reload` always says it succeeded. pbxtopo checks
// every file it generates with this package before writing it, and the
// tests check the checker against the log lines of a real Asterisk (see
// testdata/asterisk-log-lines.txt).
package astconf
