// Package asterisktest runs real Asterisk servers in tests (package
// internal/astrun), one per cluster on free local ports, stopped when the
// test ends. Where there is no Asterisk, tests skip and say how to point
// them at one.
//
// Its external tests (package asterisktest_test) run agents beside those
// servers: the DUNDi files an agent keeps current, and its DUNDi peer
// answering a real Asterisk.
package asterisktest
