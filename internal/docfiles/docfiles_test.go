package docfiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFindsReadmeAndDocs(t *testing.T) {
	files, err := Read("../..")
	if err != nil {
		t.Fatal(err)
	}
	if files[0].Path != "README.md" {
		t.Errorf("first file %s, want README.md", files[0].Path)
	}
	seen := map[string]bool{}
	for _, f := range files {
		seen[f.Path] = true
	}
	for _, want := range []string{"docs/operator-guide.md", "docs/configuration.md", "docs/http-api.md"} {
		if !seen[want] {
			t.Errorf("Read missed %s (read %v)", want, files)
		}
	}
	if !strings.Contains(Text(files), "## A five-minute tour") {
		t.Error("Text lacks the README's tour")
	}
}

func TestReadRefusesMissingDocs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("# x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil {
		t.Error("Read of a tree without docs/ succeeded")
	}
	if err := os.Mkdir(filepath.Join(dir, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docs", "a.md"), []byte("# a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "README.md")); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil {
		t.Error("Read of a tree without README.md succeeded")
	}
}
