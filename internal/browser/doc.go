// Package browser drives a headless Chromium through the Chrome DevTools
// Protocol, for tests that load the agent's web pages as a person would:
// navigate, click, read the page and take screenshots.
//
// It starts Chromium with a fresh profile and the debugging port on
// loopback, talks to its page over a WebSocket and kills the whole
// process group on Close. Only the few protocol methods the tests need
// are wrapped; Call reaches any other.
package browser
