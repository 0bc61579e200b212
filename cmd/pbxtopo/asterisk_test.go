package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/asterisktest"
)

// These tests run pbxtopo's commands against a real Asterisk
// (internal/asterisktest).

// The EIDs of the Asterisk (0a) and of pbxtopo (0b) in these tests, as in
// roaming/dundi/testdata's captures, whose keys they use.
const astEID, ourEID = "02:00:00:00:00:0a", "02:00:00:00:00:0b"

// dundiAsterisk starts an Asterisk that answers 5020 in DUNDi context
// priv and knows pbxtopo as an inbound peer, in clear or with the keys.
func dundiAsterisk(t *testing.T, encrypted bool) *asterisktest.Instance {
	t.Helper()
	peer := "\n[" + ourEID + "]\nmodel = inbound\nhost = 127.0.0.1\npermit = priv\n"
	o := asterisktest.Options{EID: astEID,
		Append: map[string]string{
			"dundi.conf":      "priv => dundi-priv-local,0,IAX2,dundi:${SECRET}@127.0.0.1/${NUMBER},nopartial\n" + peer,
			"extensions.conf": "\n[dundi-priv-local]\nexten => 5020,1,NoOp()\n",
		}}
	if encrypted {
		o.Append["dundi.conf"] += "inkey = dundiB\noutkey = dundiA\n"
		o.Keys = map[string][]byte{}
		for _, k := range []string{"dundiA.key", "dundiA.pub", "dundiB.pub"} {
			b, err := os.ReadFile(filepath.Join(keys, k))
			if err != nil {
				t.Fatal(err)
			}
			o.Keys[k] = b
		}
	}
	return asterisktest.Start(t, o)
}

// "pbxtopo dundi lookup" acknowledges Asterisk's final answer before it
// closes its socket: Asterisk ends each transaction at once instead of
// resending its answer and logging "Max retries exceeded".
func TestAsteriskDUNDiLookupAcksTheFinalAnswer(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		name := map[bool]string{false: "clear", true: "encrypted"}[encrypted]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ast := dundiAsterisk(t, encrypted)
			args := []string{"dundi", "lookup", "5020@priv", "--peer", ast.DUNDiAddr(), "--eid", ourEID}
			if encrypted {
				args = append(args, "--key", filepath.Join(keys, "dundiB.key"), "--peer-key", filepath.Join(keys, "dundiA.pub"))
			}
			for range 20 {
				if out := mustRun(t, args...); !strings.Contains(out, "IAX2/dundi:") {
					t.Fatalf("lookup: %s", out)
				}
			}
			// An acknowledged transaction is gone at once; one whose final
			// ACK was lost stays for seconds of retransmissions.
			ast.WaitCLI("dundi show trans", time.Second, func(out string) bool {
				return strings.Count(strings.TrimSpace(out), "\n") == 0
			})
		})
	}
}
