package scripts

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFuzzScriptReportsEveryFailure runs fuzz.sh over a module of three
// targets, two of them failing: the run goes on past the first failure,
// names both at the end and exits 1.
func TestFuzzScriptReportsEveryFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three fuzz binaries")
	}
	script, err := filepath.Abs("fuzz.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, text string) {
		path := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module fuzzdemo\n\ngo 1.22\n")
	target := func(pkg, name, body string) {
		write(pkg+"/"+name+"_test.go", "package "+pkg+"\n\nimport \"testing\"\n\nfunc "+name+
			"(f *testing.F) {\n\tf.Add([]byte(\"seed\"))\n\tf.Fuzz(func(t *testing.T, b []byte) {\n\t\t"+body+"\n\t})\n}\n")
	}
	target("alpha", "FuzzAlphaFails", `t.Fatal("alpha is broken")`)
	target("beta", "FuzzBetaPasses", `_ = b`)
	target("gamma", "FuzzGammaFails", `t.Fatal("gamma is broken")`)
	cmd := exec.Command("bash", script, "1s")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("fuzz.sh: %v, want exit status 1\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"== fuzzdemo/beta FuzzBetaPasses", "2 fuzz target(s) failed:", "fuzzdemo/alpha FuzzAlphaFails", "fuzzdemo/gamma FuzzGammaFails"} {
		if !strings.Contains(text, want) {
			t.Errorf("fuzz.sh output lacks %q:\n%s", want, text)
		}
	}
}
