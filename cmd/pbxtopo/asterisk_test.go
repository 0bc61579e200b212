package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/asterisktest"
	"github.com/pbxtopo/pbxtopo/roaming"
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

// amiArgs are the flags that point an ami or dundi command at ast.
func amiArgs(ast *asterisktest.Instance) []string {
	return []string{"--ami-addr", ast.AMIAddr(), "--ami-user", ast.AMIUser, "--ami-secret", ast.AMISecret, "--log-file", ast.Messages()}
}

// clustersOnLoopback rewrites the sample enterprise's clusters so that
// each voice VIP is its own loopback address with DUNDi's port free.
func clustersOnLoopback(t *testing.T, data string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "enterprise", "clusters.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	vips := map[string]string{}
	for _, r := range rows[1:] {
		vips[r[0]] = asterisktest.Loopback(t, 4520)
		r[3] = vips[r[0]] // voice_vip
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	w.WriteAll(rows)
	file := filepath.Join(t.TempDir(), "clusters.csv")
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "import", "--data-dir", data, "--table", "clusters", file)
	return vips
}

// Two clusters' Asterisks get their files from "pbxtopo dundi apply" and
// their keys from "pbxtopo dundi keys", and find each other's roaming
// numbers through DUNDi, encrypted. tpa1's Asterisk has the README's
// #include lines before the files exist, so pbx_dundi declined to load
// at start: apply writes the files, then loads it. Asterisk 22 loads new
// keys on "module reload res_crypto.so", not on "keys init".
func TestAsteriskDUNDiApplyAndKeysBetweenTwoClusters(t *testing.T) {
	t.Parallel()
	data := sampleStore(t)
	vips := clustersOnLoopback(t, data)
	tpa1 := asterisktest.Start(t, asterisktest.Options{Bind: vips["tpa1"], DUNDiPort: 4520, Append: map[string]string{
		"dundi.conf":      "#include \"pbxtopo/dundi-pbxtopo.conf\"\n",
		"extensions.conf": "#include \"pbxtopo/extensions-pbxtopo.conf\"\n"}})
	sfo := asterisktest.Start(t, asterisktest.Options{Bind: vips["sfo"], DUNDiPort: 4520})
	if out := tpa1.MustCLI("module show like pbx_dundi"); !strings.Contains(out, "Not Running") {
		t.Fatalf("pbx_dundi runs though its include is missing: %s", out)
	}
	copyKey := func(from, to *asterisktest.Instance, name string) {
		b, err := os.ReadFile(filepath.Join(from.Keys, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to.Keys, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// sfo's pair first, loaded there by --reload; its .pub goes to tpa1,
	// whose own pair --reload then loads with it.
	out := mustRun(t, append([]string{"dundi", "keys", "create", "--cluster", "sfo", "--dir", sfo.Keys, "--reload"}, amiArgs(sfo)...)...)
	if !strings.Contains(out, "res_crypto.so: OK") {
		t.Fatalf("keys create --reload:\n%s", out)
	}
	copyKey(sfo, tpa1, "pbxtopo-sfo.pub")
	mustRun(t, append([]string{"dundi", "keys", "create", "--cluster", "tpa1", "--dir", tpa1.Keys, "--reload"}, amiArgs(tpa1)...)...)
	copyKey(tpa1, sfo, "pbxtopo-tpa1.pub")
	sfo.MustCLI("keys init")
	if out := sfo.MustCLI("keys show"); strings.Contains(out, "pbxtopo-tpa1") {
		t.Errorf("keys init loaded the new key (Asterisk 22 does not; the README and 'dundi keys' say to reload res_crypto.so):\n%s", out)
	}
	sfo.MustCLI("module reload res_crypto.so")
	for _, ast := range []*asterisktest.Instance{tpa1, sfo} {
		ast.WaitCLI("keys show", 5*time.Second, func(out string) bool {
			return strings.Contains(out, "pbxtopo-tpa1") && strings.Contains(out, "pbxtopo-sfo")
		})
	}
	for cluster, ast := range map[string]*asterisktest.Instance{"tpa1": tpa1, "sfo": sfo} {
		out := mustRun(t, append([]string{"dundi", "apply", "--cluster", cluster, "--data-dir", data, "--dir", ast.Etc, "--settle", "300ms"}, amiArgs(ast)...)...)
		for _, want := range []string{"pbx_dundi.so: OK", "chan_iax2.so: OK", "pbx_config.so: OK"} {
			if !strings.Contains(out, want) {
				t.Fatalf("dundi apply --cluster %s lacks %q:\n%s", cluster, want, out)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(tpa1.Etc, "pbxtopo", "dundi-pbxtopo.conf")); err != nil {
		t.Fatal(err)
	}
	tpa1.WaitCLI("dundi lookup 5602@pbxtopo bypass", 10*time.Second, func(out string) bool {
		return strings.Contains(out, "IAX2/pbxtopo-dundi:") && strings.Contains(out, "@"+vips["sfo"]+"/5602")
	})
	sfo.WaitCLI("dundi lookup 6102@pbxtopo bypass", 10*time.Second, func(out string) bool {
		return strings.Contains(out, "@"+vips["tpa1"]+"/6102")
	})
	sfo.WaitCLI("dundi show peer "+roaming.EntityID("tpa1"), 5*time.Second, func(out string) bool {
		return strings.Contains(out, "pbxtopo-tpa1") // the inkey in use
	})
}

// "ami check" checks every action apply needs, and apply says what is
// wrong and what to do: a user without the system class may not reload
// (nothing is written); a module Asterisk does not run is not a mistake
// of the generated configuration.
func TestAsteriskAMIMessages(t *testing.T) {
	t.Parallel()
	ast := asterisktest.Start(t, asterisktest.Options{Append: map[string]string{
		"manager.conf": "\n[reader]\nsecret = reader-secret\nread = system,call,agent,user\nwrite = reporting\n"}})
	login := func(user, secret string) []string {
		return []string{"--ami-addr", ast.AMIAddr(), "--ami-user", user, "--ami-secret", secret}
	}
	reader := append(login("reader", "reader-secret"), "--log-file", ast.Messages())

	out := mustRun(t, append([]string{"ami", "check"}, login(ast.AMIUser, ast.AMISecret)...)...)
	if !regexp.MustCompile(`Reload +apply \(reload, load\) +ok`).MatchString(out) {
		t.Fatalf("ami check as a user with system:\n%s", out)
	}
	out, errs, code := pbxtopo(t, append([]string{"ami", "check"}, login("reader", "reader-secret")...)...)
	if code != 1 || !regexp.MustCompile(`Reload +apply \(reload, load\) +REFUSED: add system \(or config\) to the write = line`).MatchString(out) ||
		!regexp.MustCompile(`ModuleLoad .*REFUSED: add system to the write = line`).MatchString(out) {
		t.Fatalf("ami check as a user without system: exit %d\n%s%s", code, out, errs)
	}

	file := filepath.Join(t.TempDir(), "x-pbxtopo.conf")
	os.WriteFile(file, []byte("[x]\n"), 0o644)
	out, errs, code = pbxtopo(t, append([]string{"ami", "apply", "--module", "pbx_config.so", "--dir", ast.Etc, file}, reader...)...)
	if code != 1 || !strings.Contains(errs, "may not reload modules: give it write = system") || strings.Contains(out+errs, "generated configuration") {
		t.Fatalf("apply as a user without system: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(ast.Etc, "x-pbxtopo.conf")); !os.IsNotExist(err) {
		t.Fatalf("a refused apply wrote the file: %v", err)
	}
	out, errs, code = pbxtopo(t, append([]string{"ami", "apply", "--module", "chan_nosuch.so", "--dir", ast.Etc, file}, amiArgs(ast)...)...)
	if code != 1 || !strings.Contains(errs, "Asterisk refused: Asterisk does not run chan_nosuch.so") || strings.Contains(out+errs, "generated configuration") {
		t.Fatalf("apply for a module Asterisk does not run: exit %d\n%s%s", code, out, errs)
	}
}
