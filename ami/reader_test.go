package ami

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, text string) ([]Message, []error) {
	t.Helper()
	r := NewReader(strings.NewReader(text))
	var msgs []Message
	var errs []error
	for range 100 {
		m, err := r.ReadMessage()
		if errors.Is(err, io.EOF) {
			return msgs, errs
		}
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return msgs, errs
			}
			continue
		}
		msgs = append(msgs, m)
	}
	t.Fatal("reader did not stop")
	return nil, nil
}

func TestReadMessage(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     []string // "Key=Value;..." per message
		wantErrs []string
	}{
		{"event", "Event: PeerStatus\r\nPeer: SIP/5020\r\nPeerStatus: Registered\r\n\r\n",
			[]string{"Event=PeerStatus;Peer=SIP/5020;PeerStatus=Registered"}, nil},
		{"bare LF and blank lines between", "\r\n\nResponse: Success\nMessage: Pong\n\n\r\nEvent: X\n\n",
			[]string{"Response=Success;Message=Pong", "Event=X"}, nil},
		{"colon in value", "Event: ContactStatus\r\nURI: sip:5020@10.0.0.5:5060;ob\r\n\r\n",
			[]string{"Event=ContactStatus;URI=sip:5020@10.0.0.5:5060;ob"}, nil},
		{"empty value", "Event: X\r\nPausedReason:\r\nReason: \r\n\r\n", []string{"Event=X;PausedReason=;Reason="}, nil},
		{"malformed line skips only its message", "Event: A\r\nthis is not a header\r\nMore: x\r\n\r\nEvent: B\r\n\r\n",
			[]string{"Event=B"}, []string{`line 2: not a "Key: Value" line`}},
		{"key with a space", "Event: A\r\nBad Key: x\r\n\r\nEvent: C\r\n\r\n", []string{"Event=C"}, []string{"line 2"}},
		{"truncated", "Event: A\r\nPeer: SIP/50", nil, []string{"unexpected EOF"}},
		{"truncated after a line", "Event: A\r\n", nil, []string{"unexpected EOF"}},
		{"follows (Asterisk 13 command output)", "Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n" +
			"Module 'pbx_dundi.so' reloaded successfully.\nName: with a colon\n\n--END COMMAND--\r\n\r\nEvent: Next\r\n\r\n",
			[]string{"Response=Follows;Privilege=Command;ActionID=7|Module 'pbx_dundi.so' reloaded successfully.|Name: with a colon|", "Event=Next"}, nil},
		{"follows, end on the last output line", "Response: Follows\r\nActionID: 1\r\nok--END COMMAND--\r\n\r\n",
			[]string{"Response=Follows;ActionID=1|ok"}, nil},
		{"long line", "Event: A\r\nX: " + strings.Repeat("y", 70000) + "\r\n\r\nEvent: B\r\n\r\n",
			[]string{"Event=B"}, []string{"longer than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, errs := readAll(t, tt.in)
			var got []string
			for _, m := range msgs {
				got = append(got, flat(m))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("messages:\n got %q\nwant %q", got, tt.want)
			}
			if len(errs) != len(tt.wantErrs) {
				t.Fatalf("errors = %v, want %d", errs, len(tt.wantErrs))
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tt.wantErrs[i]) {
					t.Errorf("error %q lacks %q", e, tt.wantErrs[i])
				}
				var pe *ParseError
				if errors.As(e, &pe) && !errors.Is(e, ErrProtocol) {
					t.Errorf("ParseError does not wrap ErrProtocol")
				}
			}
		})
	}
}

func flat(m Message) string {
	var parts []string
	for _, h := range m.Headers {
		parts = append(parts, h.Key+"="+h.Value)
	}
	s := strings.Join(parts, ";")
	if m.Output != nil {
		s += "|" + strings.Join(m.Output, "|")
	}
	return s
}

func TestReadBanner(t *testing.T) {
	v, err := NewReader(strings.NewReader("Asterisk Call Manager/2.10.6\r\n")).ReadBanner()
	if err != nil || v != "2.10.6" {
		t.Fatalf("banner = %q, %v", v, err)
	}
	_, err = NewReader(strings.NewReader("SSH-2.0-OpenSSH_9.2\r\n")).ReadBanner()
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "5038") {
		t.Fatalf("ssh banner: %v", err)
	}
	_, err = NewReader(strings.NewReader("")).ReadBanner()
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("empty: %v", err)
	}
}

func TestWireRoundTrip(t *testing.T) {
	m := NewAction("Login", "Username", "pbxtopo", "Secret", "s3cr\r\net")
	wire := string(m.AppendWire(nil))
	if strings.Count(wire, "\r\n") != 4 || !strings.Contains(wire, "Secret: s3cr  et\r\n") {
		t.Fatalf("a value's line break must not reach the wire: %q", wire)
	}
	if s := m.String(); strings.Contains(s, "s3cr") {
		t.Fatalf("String shows the secret: %s", s)
	}
	got, err := NewReader(strings.NewReader(wire)).ReadMessage()
	if err != nil || got.Get("username") != "pbxtopo" || got.Get("Action") != "Login" {
		t.Fatalf("round trip: %v %v", got, err)
	}
}

// FuzzReadMessage: any bytes give messages or errors, never a panic or a
// hang; every message read re-encodes to bytes that read back the same.
func FuzzReadMessage(f *testing.F) {
	for _, s := range []string{
		"Event: PeerStatus\r\nPeer: SIP/5020\r\n\r\n",
		"Response: Follows\r\nActionID: 1\r\nout\n--END COMMAND--\r\n\r\n",
		"Response: Success\r\nEventList: start\r\n\r\nEvent: X\r\nEventList: Complete\r\n\r\n",
		"bad\r\n\r\nEvent: Y\r\n\r\n",
		"Event: A\r\nB:\r\n:C\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(strings.NewReader(string(data)))
		for range len(data) + 2 {
			m, err := r.ReadMessage()
			if err != nil {
				var pe *ParseError
				if errors.As(err, &pe) {
					continue
				}
				return
			}
			if len(m.Headers) == 0 {
				t.Fatalf("a message without headers from %q", data)
			}
			wire := m.AppendWire(nil)
			back, err := NewReader(strings.NewReader(string(wire))).ReadMessage()
			if err != nil {
				t.Fatalf("re-reading %q: %v", wire, err)
			}
			if clean(flat(back)) != clean(flat(m)) {
				t.Fatalf("round trip changed the message:\n%q\n%q", flat(m), flat(back))
			}
		}
		t.Fatalf("reader did not reach the end of %d bytes", len(data))
	})
}

func clean(s string) string { return strings.ReplaceAll(s, "\r", " ") }
