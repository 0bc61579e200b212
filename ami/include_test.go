package ami

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzIncludeIn: whatever the main file holds, adding the include either
// refuses with ErrInvalid, finds it there, or adds it once at the end, and
// then finds it there.
func FuzzIncludeIn(f *testing.F) {
	f.Add([]byte("[general]\n[mappings]\n"))
	f.Add([]byte("[general]\n#include \"pbxtopo/dundi-pbxtopo.conf\"\n[mappings]\n"))
	f.Add([]byte("#tryinclude <pbxtopo/dundi-pbxtopo.conf>\n"))
	f.Add([]byte("[mappings](+)\n#include dundi-pbxtopo.conf"))
	inc := Include{Main: "dundi.conf", File: "pbxtopo/dundi-pbxtopo.conf", Sections: []string{"general", "mappings"}}
	a := &Applier{cfg: ApplyConfig{Dir: "/etc/asterisk"}}
	f.Fuzz(func(t *testing.T, main []byte) {
		if main == nil {
			main = []byte{}
		}
		out, err := a.includeIn(inc, main)
		switch {
		case err != nil:
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		case out == nil:
			return // already included
		}
		if !bytes.HasPrefix(out, main) || !bytes.HasSuffix(out, []byte("#include \"pbxtopo/dundi-pbxtopo.conf\"\n")) {
			t.Fatalf("added wrongly:\n%q\n→\n%q", main, out)
		}
		again, err := a.includeIn(inc, out)
		if err != nil || again != nil {
			t.Fatalf("the added include is not found again: %v %q\n%q", err, again, out)
		}
	})
}
