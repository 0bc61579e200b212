// Package docfiles reads the project's documentation, README.md and the
// Markdown files of docs/, for the tests that hold it to the code: every
// command and config key documented, every example command real.
package docfiles

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File is one documentation file.
type File struct {
	Path string // relative to the module's directory, e.g. "docs/security.md"
	Text string
}

// Read returns README.md, then docs/*.md in name order, under root (the
// module's directory, e.g. "../.." from a package two levels down). A
// missing README.md or an empty docs/ is an error: the tests that read
// them would otherwise pass on nothing.
func Read(root string) ([]File, error) {
	names, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no docs/*.md under %s: run the test from its package directory", root)
	}
	sort.Strings(names)
	names = append([]string{filepath.Join(root, "README.md")}, names...)
	files := make([]File, 0, len(names))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(root, name)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: filepath.ToSlash(rel), Text: string(b)})
	}
	return files, nil
}

// Text is every file's text, one after the other, for a search that does
// not care in which file a word is.
func Text(files []File) string {
	var b strings.Builder
	for _, f := range files {
		b.WriteString(f.Text)
		b.WriteString("\n")
	}
	return b.String()
}
