package ami

import (
	"strconv"
	"strings"
)

// Header is one "Key: Value" line of a message.
type Header struct {
	Key, Value string
}

// Message is one AMI message: an action, a response or an event. Header
// order is kept (Asterisk repeats some keys, e.g. Output and Variable).
type Message struct {
	Headers []Header
	// Output holds the raw text of a "Response: Follows" command answer
	// (Asterisk 13 and older print the command's output unformatted up to
	// "--END COMMAND--"); newer versions use Output headers instead.
	Output []string
}

// NewAction returns an action message: "Action: name" and the given
// key/value pairs.
func NewAction(name string, kv ...string) Message {
	m := Message{Headers: make([]Header, 0, 1+len(kv)/2)}
	m.Headers = append(m.Headers, Header{"Action", name})
	for i := 0; i+1 < len(kv); i += 2 {
		m.Headers = append(m.Headers, Header{kv[i], kv[i+1]})
	}
	return m
}

// Get returns the value of the first header named key (case-insensitive),
// or "".
func (m *Message) Get(key string) string {
	v, _ := m.Lookup(key)
	return v
}

// Lookup returns the value of the first header named key and whether it
// is present.
func (m *Message) Lookup(key string) (string, bool) {
	for i := range m.Headers {
		if strings.EqualFold(m.Headers[i].Key, key) {
			return m.Headers[i].Value, true
		}
	}
	return "", false
}

// First returns the value of the first of keys that is present: the way to
// read a field that Asterisk versions name differently.
func (m *Message) First(keys ...string) string {
	for _, k := range keys {
		if v, ok := m.Lookup(k); ok {
			return v
		}
	}
	return ""
}

// All returns the values of every header named key, in order.
func (m *Message) All(key string) []string {
	var out []string
	for i := range m.Headers {
		if strings.EqualFold(m.Headers[i].Key, key) {
			out = append(out, m.Headers[i].Value)
		}
	}
	return out
}

// Set replaces the value of key, or adds the header.
func (m *Message) Set(key, value string) {
	for i := range m.Headers {
		if strings.EqualFold(m.Headers[i].Key, key) {
			m.Headers[i].Value = value
			return
		}
	}
	m.Headers = append(m.Headers, Header{key, value})
}

// Int returns the value of key as an integer, and false when it is absent
// or not a number.
func (m *Message) Int(key string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(m.Get(key)))
	return n, err == nil
}

// Event is the event name, or "" for a response.
func (m *Message) Event() string { return m.Get("Event") }

// Response is the response kind ("Success", "Error", "Follows",
// "Goodbye"), or "" for an event.
func (m *Message) Response() string { return m.Get("Response") }

// ActionID is the message's ActionID, or "".
func (m *Message) ActionID() string { return m.Get("ActionID") }

// IsError reports whether a response says the action failed.
func (m *Message) IsError() bool { return strings.EqualFold(m.Response(), "Error") }

// Text returns the command output of a response: the Output headers of
// Asterisk 14 and newer, or the raw lines of a "Follows" answer.
func (m *Message) Text() []string {
	if out := m.All("Output"); len(out) > 0 {
		return out
	}
	return m.Output
}

// AppendWire appends m as it goes on the wire: "Key: Value\r\n" lines and
// a blank line. Line breaks inside values are replaced by spaces, so a
// value can never start a header or end the message.
func (m *Message) AppendWire(b []byte) []byte {
	for _, h := range m.Headers {
		b = appendClean(b, h.Key)
		b = append(b, ':', ' ')
		b = appendClean(b, h.Value)
		b = append(b, '\r', '\n')
	}
	for _, o := range m.Output {
		b = appendClean(b, o)
		b = append(b, '\n')
	}
	if m.Output != nil {
		b = append(b, "--END COMMAND--\r\n"...)
	}
	return append(b, '\r', '\n')
}

func appendClean(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// String returns the message as text without secrets, for logs.
func (m *Message) String() string {
	var sb strings.Builder
	for i, h := range m.Headers {
		if i > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(h.Key)
		sb.WriteString(": ")
		if strings.EqualFold(h.Key, "Secret") || strings.EqualFold(h.Key, "Key") {
			sb.WriteString("********")
		} else {
			sb.WriteString(h.Value)
		}
	}
	return sb.String()
}
