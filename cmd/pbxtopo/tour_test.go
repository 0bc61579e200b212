package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/demo"
	"github.com/pbxtopo/pbxtopo/internal/docfiles"
)

// What differs from one run to the next: change ids, times, store
// versions, durations. (Other volatile parts are "…" in the doc.) Columns widen with their content, so runs of blanks count as
// one.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b[a-z0-9-]+\.[0-9a-f]{16}:\d+`), "CHANGE"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?Z?`), "TIME"},
	{regexp.MustCompile(`store version [0-9a-f]+`), "store version V"},
	{regexp.MustCompile(`\(\d+ changes`), "(N changes"},
	{regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s|m|h)(\d+(\.\d+)?(ns|µs|ms|s))* ago\b`), "D ago"},
	{regexp.MustCompile(`[ \t]+`), " "},
}

func normalise(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, v := range volatile {
			l = v.re.ReplaceAllString(l, v.with)
		}
		out = append(out, strings.TrimRight(l, " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// matches tells whether the output got is the output the doc shows
// (both normalised): "…" in a line of the doc stands for any text within
// that line, and a line that is only "…" for any number of lines.
func matches(got, want []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "…" {
		for i := 0; i <= len(got); i++ {
			if matches(got[i:], want[1:]) {
				return true
			}
		}
		return false
	}
	if len(got) == 0 || !lineMatches(got[0], want[0]) {
		return false
	}
	return matches(got[1:], want[1:])
}

func lineMatches(got, want string) bool {
	if !strings.Contains(want, "…") {
		return got == want
	}
	parts := strings.Split(want, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(got)
}

// TestDocExamplesRun runs every ```console block of README.md and
// docs/*.md, command by command, with the real binary against one fresh
// demo enterprise (as `pbxtopo demo` starts it), and checks that each
// command exits 0 and prints what the doc shows. Every ```sh or
// ```console block either runs or says why not with a
// "<!-- not run: REASON -->" line above its fence, so none escapes.
//
// Each file's blocks run in order in one shell (variables and the working
// directory carry over), started in a scratch directory holding a link to
// testdata/, with the demo's env.sh sourced; DIR in a command is the
// demo's directory. The files run in docfiles.Read's order: README.md,
// then docs/ by name, so a block sees what the blocks before it changed.
func TestDocExamplesRun(t *testing.T) {
	var run, notRun int
	type file struct {
		path   string
		blocks []docfiles.Block
	}
	var files []file
	for _, f := range readDocs(t) {
		var blocks []docfiles.Block
		for _, b := range docfiles.Blocks(f.Text) {
			if b.Lang != "sh" && b.Lang != "bash" && b.Lang != "shell" && b.Lang != "console" {
				continue
			}
			switch {
			case b.NotRun != "":
				t.Logf("%s:%d: not run: %s", f.Path, b.Line, b.NotRun)
				notRun++
			case b.Lang != "console":
				t.Errorf("%s:%d: a ```%s block that is not run: make it a ```console block (\"$ \" before each command, its output below) or say why it cannot run with <!-- not run: REASON --> on the line above the fence (docs/testing.md)", f.Path, b.Line, b.Lang)
			default:
				if _, stray := b.Steps(); len(stray) > 0 {
					t.Errorf("%s:%d: console block with output before its first command (%q): start commands with \"$ \"", f.Path, b.Line, stray[0])
					continue
				}
				blocks = append(blocks, b)
				run++
			}
		}
		files = append(files, file{f.Path, blocks})
	}
	if run < 12 {
		t.Fatalf("found %d console blocks to run in README.md and docs/: the blocks moved or the reader misses them", run)
	}
	t.Logf("%d blocks to run, %d marked not run", run, notRun)
	if t.Failed() {
		return
	}

	for tool, pkg := range map[string]string{"curl": "curl", "dig": "dnsutils"} { // the docs' examples use them
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is missing: apt-get install %s", tool, pkg)
		}
	}
	e := startEnterprise(t, []string{"tpa1", "tpa2", "sfo", "lon", "ams"}, "mesh", func(c *demo.Config) { c.StandIns = true })
	binDir := filepath.Dir(pbxtopoBinary(t))
	if err := e.WriteEnv(binDir); err != nil {
		t.Fatal(err)
	}
	testdata, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if len(f.blocks) == 0 {
			continue
		}
		scratch := t.TempDir()
		if err := os.Symlink(testdata, filepath.Join(scratch, "testdata")); err != nil {
			t.Fatal(err)
		}
		sh := startShell(t, scratch, filepath.Join(e.Dir, demo.EnvFile))
		for _, b := range f.blocks {
			steps, _ := b.Steps()
			for _, s := range steps {
				cmd := strings.ReplaceAll(s.Command, "DIR/", e.Dir+"/")
				out, status := sh.run(t, cmd, 2*time.Minute)
				if status != 0 {
					t.Errorf("%s:%d: %s: exit status %d\n%s", f.path, s.Line, cmd, status, strings.Join(out, "\n"))
					continue
				}
				if got, want := normalise(out), normalise(s.Output); !matches(got, want) {
					t.Errorf("%s:%d: %s\nprints:\n%s\n\nthe doc shows:\n%s", f.path, s.Line, s.Command, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
		}
		sh.close()
	}
}

// shell is one sh process that runs commands one after the other, so
// that variables and the working directory carry over between them.
type shell struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	marker string
}

func startShell(t *testing.T, dir, envFile string) *shell {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command("sh")
	c.Dir = dir
	c.Env = append(os.Environ(), "PBXTOPO_ADDR=", "PBXTOPO_TOKEN=", "NO_COLOR=1")
	c.Stdout, c.Stderr = w, w
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	s := &shell{cmd: c, in: in, lines: make(chan string, 1024), marker: "--- done " + rand.Text() + " "}
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	if out, status := s.run(t, ". "+envFile, time.Minute); status != 0 || len(out) > 0 {
		t.Fatalf("sourcing %s: exit status %d\n%s", envFile, status, strings.Join(out, "\n"))
	}
	return s
}

// run runs one command (its stdin empty) and returns what it printed,
// standard output and error together, and its exit status.
func (s *shell) run(t *testing.T, command string, within time.Duration) ([]string, int) {
	t.Helper()
	fmt.Fprintf(s.in, "{ %s\n} </dev/null\ndoc_status=$?; echo '%s'$doc_status\n", command, s.marker)
	var out []string
	timeout := time.After(within)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("%s: the shell ended\n%s", command, strings.Join(out, "\n"))
			}
			if before, status, found := strings.Cut(l, s.marker); found {
				if before != "" { // output without a final newline
					out = append(out, before)
				}
				n, err := strconv.Atoi(status)
				if err != nil {
					t.Fatalf("%s: exit status %q", command, status)
				}
				return out, n
			}
			out = append(out, l)
		case <-timeout:
			t.Fatalf("%s: not done within %s\n%s", command, within, strings.Join(out, "\n"))
		}
	}
}

func (s *shell) close() {
	s.in.Close()
	s.cmd.Wait()
}

// TestDocOutputMatching: what the examples test takes as the same output.
func TestDocOutputMatching(t *testing.T) {
	for _, c := range []struct {
		got, want []string
		same      bool
	}{
		{[]string{"changed extension tpa1/6109 (version tpa1.9da9f87537c4bd1c:102)"}, []string{"changed extension tpa1/6109 (version tpa1.0123456789abcdef:7)"}, true},
		{[]string{"lon  connected  127.0.0.1:4242  1.6s ago  0"}, []string{"lon connected 127.0.0.1:… 0.2s ago 0", ""}, true},
		{[]string{"lon connected 127.0.0.1:4242 0"}, []string{"lon connected 127.0.0.1:… 1"}, false},
		{[]string{"a", "b", "c", "d"}, []string{"a", "…", "d"}, true},
		{[]string{"a", "d"}, []string{"a", "…", "d"}, true},
		{[]string{"a", "b"}, []string{"a", "…", "d"}, false},
		{[]string{"moved extension ams/3101"}, []string{"moved extension ams/5101"}, false},
		{[]string{"exit 0"}, nil, false},
	} {
		if got := matches(normalise(c.got), normalise(c.want)); got != c.same {
			t.Errorf("%q against the doc's %q: same %v, want %v", c.got, c.want, got, c.same)
		}
	}
}
