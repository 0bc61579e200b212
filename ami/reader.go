package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits of one message; Asterisk's own are smaller (1 KiB lines, 128
// headers on input), but its output can be large (a Follows answer holds
// a whole CLI output).
const (
	maxLineLen     = 64 << 10
	maxHeaders     = 4096
	maxMessageSize = 4 << 20
	endCommand     = "--END COMMAND--"
	bannerPrefix   = "Asterisk Call Manager/"
)

// ParseError is a malformed message. The reader has skipped to the end of
// that message, so the caller may go on reading the next one.
type ParseError struct {
	Line   int64  // line number in the stream, from 1
	Text   string // the offending line, shortened
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("ami: line %d: %s: %q", e.Line, e.Reason, e.Text)
}

func (e *ParseError) Unwrap() error { return ErrProtocol }

// Reader reads AMI messages from a stream.
type Reader struct {
	br   *bufio.Reader
	line int64 // lines read so far
}

// NewReader returns a reader of AMI messages from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// ReadBanner reads the greeting line ("Asterisk Call Manager/7.0.3") and
// returns the protocol version after the slash.
func (r *Reader) ReadBanner() (string, error) {
	line, tooLong, err := r.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: Asterisk closed the connection before its greeting", ErrClosed)
		}
		return "", err
	}
	s := string(line)
	if tooLong || !strings.HasPrefix(s, bannerPrefix) {
		return "", &ParseError{Line: r.line, Text: shorten(s), Reason: "not an Asterisk Manager greeting (is ami.addr the manager port, 5038?)"}
	}
	return strings.TrimSpace(strings.TrimPrefix(s, bannerPrefix)), nil
}

// ReadMessage reads the next message. It returns io.EOF when the stream
// ends between messages, io.ErrUnexpectedEOF when it ends inside one, and
// a *ParseError (after skipping the bad message) when a message is
// malformed.
func (r *Reader) ReadMessage() (Message, error) {
	var m Message
	var bad *ParseError
	size := 0
	started := false
	follows := false // inside the raw output of a "Response: Follows"
	for {
		line, tooLong, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && started {
				return m, io.ErrUnexpectedEOF
			}
			return m, err
		}
		size += len(line) + 2
		if len(line) == 0 && !follows {
			if !started {
				continue // blank lines between messages
			}
			if bad != nil {
				return Message{}, bad
			}
			return m, nil
		}
		started = true
		if bad != nil {
			continue // skipping the rest of a bad message
		}
		switch {
		case tooLong:
			bad = &ParseError{Line: r.line, Text: shorten(string(line)), Reason: fmt.Sprintf("line longer than %d bytes", maxLineLen)}
			continue
		case size > maxMessageSize:
			bad = &ParseError{Line: r.line, Text: shorten(string(line)), Reason: fmt.Sprintf("message larger than %d bytes", maxMessageSize)}
			continue
		}
		if follows {
			end := bytes.Index(line, []byte(endCommand))
			if end >= 0 {
				line = bytes.TrimRight(line[:end], "\r")
				follows = false
				if len(line) == 0 {
					continue
				}
			}
			if k, v, ok := splitHeader(line); ok && len(m.Output) == 0 && (strings.EqualFold(k, "ActionID") || strings.EqualFold(k, "Privilege")) {
				m.Headers = append(m.Headers, Header{k, v})
				continue
			}
			m.Output = append(m.Output, string(line))
			continue
		}
		k, v, ok := splitHeader(line)
		if !ok {
			bad = &ParseError{Line: r.line, Text: shorten(string(line)), Reason: "not a \"Key: Value\" line"}
			continue
		}
		if len(m.Headers) >= maxHeaders {
			bad = &ParseError{Line: r.line, Text: shorten(string(line)), Reason: fmt.Sprintf("more than %d headers", maxHeaders)}
			continue
		}
		m.Headers = append(m.Headers, Header{k, v})
		if len(m.Headers) == 1 && strings.EqualFold(k, "Response") && strings.EqualFold(v, "Follows") {
			follows = true
			m.Output = []string{}
		}
	}
}

// splitHeader splits "Key: Value". The key must be a token (no spaces);
// the value is everything after the first colon, less one space.
func splitHeader(line []byte) (string, string, bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", "", false
	}
	key := line[:i]
	for _, c := range key {
		if c <= ' ' || c == 0x7f {
			return "", "", false
		}
	}
	v := line[i+1:]
	if len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	return internKey(key), string(bytes.TrimRight(v, " \t\r")), true
}

// readLine returns the next line without its "\r\n" (or "\n"). A line
// longer than maxLineLen is consumed whole and reported with tooLong.
func (r *Reader) readLine() (line []byte, tooLong bool, err error) {
	b, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		head := string(b[:64])
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.br.ReadSlice('\n')
		}
		if err != nil {
			return nil, false, unexpected(err)
		}
		r.line++
		return []byte(head), true, nil
	}
	if err != nil {
		if len(b) > 0 && errors.Is(err, io.EOF) {
			return nil, false, io.ErrUnexpectedEOF
		}
		return nil, false, err
	}
	r.line++
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if len(b) > maxLineLen {
		return b[:64], true, nil
	}
	return b, false, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// commonKeys are the header names of most messages: interned so that
// parsing 20,000 events a second does not allocate a string per key.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Event", "Response", "ActionID", "Message", "Privilege", "EventList", "ListItems",
		"Channel", "ChannelType", "Peer", "PeerStatus", "Address", "Port", "Time", "Cause", "URI", "ContactStatus",
		"AOR", "EndpointName", "RoundtripUsec", "Device", "State", "Exten", "Context", "Hint", "Status", "StatusText",
		"Queue", "MemberName", "Interface", "Location", "StateInterface", "Membership", "Penalty", "CallsTaken",
		"LastCall", "LastPause", "LoginTime", "InCall", "Paused", "PausedReason", "Reason", "Ringinuse", "Wrapuptime",
		"Mailbox", "Waiting", "New", "Old", "ObjectType", "ObjectName", "Uri", "UserAgent", "RegExpire",
		"ExpirationTime", "ViaAddr", "ViaPort", "RegServer", "Endpoint", "Output", "SystemName", "Uniqueid", "Linkedid"} {
		m[k] = k
	}
	return m
}()

func internKey(b []byte) string {
	if k, ok := commonKeys[string(b)]; ok { // no allocation: map lookup by converted []byte
		return k
	}
	return string(b)
}
