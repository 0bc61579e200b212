package asterisktest

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestStart starts two instances side by side and checks each answers on
// its own console and manager port.
func TestStart(t *testing.T) {
	a := Start(t, Options{EID: "02:00:00:00:00:01"})
	b := Start(t, Options{EID: "02:00:00:00:00:02", Append: map[string]string{"extensions.conf": "[probe]\nexten => 1,1,NoOp()\n"}})
	if out := a.MustCLI("core show version"); !strings.Contains(out, "Asterisk 22.") {
		t.Fatalf("core show version: %q", out)
	}
	if out := b.MustCLI("dundi show entityid"); !strings.Contains(out, "02:00:00:00:00:02") {
		t.Fatalf("dundi show entityid: %q", out)
	}
	if out := b.MustCLI("dialplan show probe"); !strings.Contains(out, "NoOp") {
		t.Fatalf("dialplan show probe: %q", out)
	}
	for _, i := range []*Instance{a, b} {
		c, err := net.DialTimeout("tcp", i.AMIAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		c.Close()
		if !strings.HasPrefix(string(buf[:n]), "Asterisk Call Manager") {
			t.Fatalf("AMI %s greets %q", i.AMIAddr(), buf[:n])
		}
	}
}
