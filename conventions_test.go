package pbxtopo

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/pbxtopo/pbxtopo/internal/docfiles"
)

// These tests keep conventions that are easy to forget (STYLE.md, habit
// 10): they read the module's own sources.

const module = "github.com/pbxtopo/pbxtopo"

// layers are the module's packages from the top down, after the package
// table of DESIGN.md and the README's layout: a package imports only
// packages of lower layers, so the arrows point down and no package
// reaches above itself (the service never imports the HTTP API, the store
// never imports the replicator). A new package goes in its row.
var layers = [][]string{
	{"cmd/pbxtopo"},
	{"internal/bench", "chaos/netns"},
	{"internal/demo", "agent/agenttest"},
	{"agent", "chaos"},
	{"httpapi/ui"},
	{"httpapi"},
	{"service", "internal/testutil"},
	{"replicator/raftstore", "replicator/mysql", "replicator/replicatortest", "roaming", "ami/amitest", "internal/asterisktest"},
	{"replicator", "roaming/dundi", "roaming/astconf", "srv", "ami", "secrets", "internal/astrun"},
	{"store"},
	{"pbx"},
	{"", "internal/pki", "internal/docfiles", "internal/wire", "internal/backoff", "internal/logbridge", "internal/testnet", "internal/browser", "internal/sipstub", "internal/dnstest", "replicator/mysql/mariadbtest", "replicator/mysql/asteriskdb", "replicator/raftstore/raftlog", "scripts"},
	{"internal/modroot", "internal/atomicfile"},
}

// pkg is one package of the module: its doc comment and imports.
type pkg struct {
	doc     bool
	imports map[string]bool // module-relative paths
}

// packages parses the non-test files of every package of the module.
func packages(t *testing.T) map[string]*pkg {
	t.Helper()
	out := map[string]*pkg{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != "." && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if dir == "." {
			dir = ""
		}
		p := out[dir]
		if p == nil {
			p = &pkg{imports: map[string]bool{}}
			out[dir] = p
		}
		p.doc = p.doc || f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != ""
		for _, im := range f.Imports {
			ip, _ := strconv.Unquote(im.Path.Value)
			if ip == module {
				p.imports[""] = true
			} else if rel, ok := strings.CutPrefix(ip, module+"/"); ok {
				p.imports[rel] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEveryPackageHasADocComment: every package says what it owns.
func TestEveryPackageHasADocComment(t *testing.T) {
	for dir, p := range packages(t) {
		if !p.doc {
			t.Errorf("package %s has no doc comment: add a doc.go that says what it owns", "./"+dir)
		}
	}
}

// TestImportsPointDown checks every import between the module's packages
// against layers.
func TestImportsPointDown(t *testing.T) {
	layer := map[string]int{}
	for i, row := range layers {
		for _, p := range row {
			layer[p] = i
		}
	}
	pkgs := packages(t)
	var dirs []string
	for dir := range pkgs {
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		from, ok := layer[dir]
		if !ok {
			t.Errorf("package ./%s is in no row of layers (conventions_test.go): add it where it belongs", dir)
			continue
		}
		for im := range pkgs[dir].imports {
			if to, ok := layer[im]; ok && to <= from {
				t.Errorf("./%s (layer %d) imports ./%s (layer %d): imports must point down the package table; "+
					"declare an interface in ./%s and let a package above both pass the implementation in", dir, from, im, to, dir)
			}
		}
	}
	for dir := range layer {
		if _, ok := pkgs[dir]; !ok {
			if _, err := os.Stat(filepath.FromSlash("./" + dir)); err != nil {
				t.Errorf("layers names ./%s, which is no package of the module: remove it", dir)
			}
		}
	}
}

// markdownLink is a link of a Markdown file: [text](target).
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocLinksResolve: every relative link of README.md and docs/ names a
// file of the module and, after a #, a heading of that file, so moving a
// section between the files cannot leave a dead link behind.
func TestDocLinksResolve(t *testing.T) {
	files, err := docfiles.Read(".")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		for _, m := range markdownLink.FindAllStringSubmatch(f.Text, -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") || link == "+" { // "+" is a regexp in a code block
				continue
			}
			path, anchor, _ := strings.Cut(link, "#")
			target := f.Path
			if path != "" {
				target = filepath.ToSlash(filepath.Join(filepath.Dir(f.Path), path))
			}
			checked++
			b, err := os.ReadFile(filepath.FromSlash(target))
			if err != nil {
				t.Errorf("%s: link %s: %s does not exist", f.Path, link, target)
				continue
			}
			if anchor != "" && !headingAnchors(string(b))[anchor] {
				t.Errorf("%s: link %s: %s has no heading with the anchor #%s", f.Path, link, target, anchor)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked %d links: the links of README.md and docs/ were not found", checked)
	}
}

// headingAnchors are the anchors GitHub gives a Markdown file's headings:
// lower case, punctuation dropped, spaces made hyphens.
func headingAnchors(text string) map[string]bool {
	out := map[string]bool{}
	fence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if fence || !ok || !strings.HasPrefix(line, "#") {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(title)) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}
