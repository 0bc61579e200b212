package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/demo"
)

// tourStep is one command of a README console block with the output the
// README shows for it.
type tourStep struct {
	line    int // in the README
	command string
	want    []string
}

// consoleSteps reads the ```console blocks of one README section: each
// "$ " line is a command, the lines up to the next one its output.
func consoleSteps(t *testing.T, readme, section string) []tourStep {
	t.Helper()
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []tourStep
	in, inBlock := false, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#"):
			in = strings.TrimLeft(l, "# ") == section
		case !in:
		case l == "```console":
			inBlock = true
		case inBlock && l == "```":
			inBlock = false
		case inBlock && strings.HasPrefix(l, "$ "):
			steps = append(steps, tourStep{line: n, command: strings.TrimPrefix(l, "$ ")})
		case inBlock && len(steps) > 0:
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, l)
		}
	}
	return steps
}

// What differs from one run to the next: change ids, times, store
// versions. Columns widen with their content, so runs of blanks count as
// one.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b[a-z0-9-]+\.[0-9a-f]{16}:\d+`), "CHANGE"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?Z?`), "TIME"},
	{regexp.MustCompile(`store version [0-9a-f]+ \(\d+ changes`), "store version V (N changes"},
	{regexp.MustCompile(`[ \t]+`), " "},
}

func normalise(lines []string) string {
	var out []string
	for _, l := range lines {
		for _, v := range volatile {
			l = v.re.ReplaceAllString(l, v.with)
		}
		out = append(out, strings.TrimRight(l, " "))
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n")
}

// TestReadmeTourRuns runs the README's five-minute tour, command by
// command, with the real binary against a fresh demo (as `pbxtopo demo`
// starts it), and checks each prints what the README shows and exits 0.
func TestReadmeTourRuns(t *testing.T) {
	steps := consoleSteps(t, "../../README.md", "A five-minute tour")
	if len(steps) < 8 {
		t.Fatalf("found %d commands in the README's tour: the section or its console blocks moved", len(steps))
	}
	e := startEnterprise(t, []string{"tpa1", "tpa2", "sfo", "lon", "ams"}, "mesh", func(c *demo.Config) { c.StandIns = true })
	binDir := filepath.Dir(pbxtopoBinary(t))
	if err := e.WriteEnv(binDir); err != nil {
		t.Fatal(err)
	}
	env := ""
	for _, s := range steps {
		cmd := s.command
		if strings.HasPrefix(cmd, ". DIR/") { // the demo's env file
			env = ". " + filepath.Join(e.Dir, strings.Fields(strings.TrimPrefix(cmd, ". DIR/"))[0]) + " && "
			continue
		}
		if env == "" {
			t.Fatalf("README line %d: %q runs before the tour sources the demo's env.sh", s.line, cmd)
		}
		c := exec.Command("sh", "-c", env+cmd)
		c.Env = append(os.Environ(), "PBXTOPO_ADDR=", "PBXTOPO_TOKEN=", "NO_COLOR=1")
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("README line %d: %s: %v\n%s", s.line, cmd, err, out)
		}
		got := normalise(strings.Split(string(out), "\n"))
		if want := normalise(s.want); got != want {
			t.Errorf("README line %d: %s\nprints:\n%s\n\nthe README shows:\n%s", s.line, cmd, got, want)
		}
	}
}
