// Package astrun runs real Asterisk servers side by side: each instance
// has its own configuration, keys, logs and control socket in a directory
// of its own, and its SIP, IAX2, DUNDi and manager ports on free local
// ports (one instance per cluster). The Asterisk is the one of
// ../shared/asterisk (Asterisk 22.8.0, unpacked once into a cache
// directory) or the one PBXTOPO_ASTERISK names. Tests use it through
// internal/asterisktest; `pbxtopo bench dundi` runs one as its anchor.
package astrun
