package sipstub

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestAnswersOptions(t *testing.T) {
	r, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := net.Dial("udp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n" +
		"To: <sip:127.0.0.1>\r\nCall-ID: abc@pbxtopo\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	c.Write([]byte(req))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	resp := string(buf[:n])
	for _, want := range []string{"SIP/2.0 200 OK\r\n", "Call-ID: abc@pbxtopo\r\n", "CSeq: 1 OPTIONS\r\n", "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx\r\n"} {
		if !strings.Contains(resp, want) {
			t.Errorf("answer lacks %q:\n%s", want, resp)
		}
	}
	if Answer([]byte("SIP/2.0 200 OK\r\n\r\n")) != nil || Answer([]byte("garbage")) != nil {
		t.Error("answered something that is not a request")
	}
}

func FuzzAnswer(f *testing.F) {
	f.Add([]byte("OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a := Answer(b); a != nil && !strings.HasPrefix(string(a), "SIP/2.0 200 OK\r\n") {
			t.Fatalf("answer %q", a)
		}
	})
}
