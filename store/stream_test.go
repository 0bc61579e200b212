package store

import "testing"

// TestStreamParts: a stream's cluster, incarnation and scope, including
// the malformed forms a peer could send.
func TestStreamParts(t *testing.T) {
	for _, c := range []struct {
		s       Stream
		cluster string
		inc     uint64
		scope   string
	}{
		{MakeStream("tpa1", 0x10, ""), "tpa1", 0x10, ""},
		{MakeStream("tpa1", 0x10, "tpa"), "tpa1", 0x10, "tpa"},
		{"tpa1.0000000000000010.a.b", "tpa1", 0x10, "a.b"},
		{"tpa1", "tpa1", 0, ""},
		{"tpa1.zz", "tpa1", 0, ""},
		{"", "", 0, ""},
	} {
		if got := c.s.Cluster(); got != c.cluster {
			t.Errorf("%q.Cluster() = %q, want %q", c.s, got, c.cluster)
		}
		if got := c.s.Incarnation(); got != c.inc {
			t.Errorf("%q.Incarnation() = %x, want %x", c.s, got, c.inc)
		}
		if got := c.s.Scope(); got != c.scope {
			t.Errorf("%q.Scope() = %q, want %q", c.s, got, c.scope)
		}
	}
}
