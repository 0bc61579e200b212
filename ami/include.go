package ami

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Include asks apply to make a main configuration file (dundi.conf)
// include one of the files it writes (pbxtopo/dundi-pbxtopo.conf).
type Include struct {
	Main string `json:"main"`
	File string `json:"file"`
	// Sections are the categories the file adds to with "[name](+)":
	// Asterisk refuses those lines when the main file does not define the
	// category before the include.
	Sections []string `json:"sections,omitempty"`
}

// includeIn returns the main file with the include added at its end
// (after any of the Sections it lacks, empty), or nil when it already
// includes the file. pending is the main file's new content when this
// apply writes it anyway. A main file that includes the file but lacks a
// section before the include, or that includes a file of the same name
// from another place, is an error that says what to change.
func (a *Applier) includeIn(inc Include, pending []byte) ([]byte, error) {
	text := pending
	if text == nil {
		var err error
		text, err = os.ReadFile(filepath.Join(a.cfg.Dir, inc.Main))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("ami: apply: read %s: %w", inc.Main, err)
		}
	}
	defined := map[string]bool{}
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if target, ok := includeTarget(line); ok {
			switch {
			case a.sameFile(target, inc.File):
				for _, s := range inc.Sections {
					if !defined[s] {
						return nil, fmt.Errorf("%w: %s line %d includes %s, which adds to [%s] with [%s](+), but %s has no [%s] section before that line: add an empty [%s] line above it",
							ErrInvalid, inc.Main, i+1, inc.File, s, s, inc.Main, s, s)
					}
				}
				return nil, nil
			case path.Base(target) == path.Base(inc.File):
				return nil, fmt.Errorf("%w: %s line %d includes %q, but pbxtopo keeps this file at %q: change the line to #include %q",
					ErrInvalid, inc.Main, i+1, target, inc.File, inc.File)
			}
			continue
		}
		if strings.HasPrefix(line, "[") {
			if end := strings.IndexByte(line, ']'); end > 0 {
				defined[strings.TrimSpace(line[1:end])] = true
			}
		}
	}
	var b strings.Builder
	b.Write(text)
	if len(text) > 0 && text[len(text)-1] != '\n' {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "\n; Added by pbxtopo: the generated %s (it rewrites that file, never this line).\n", inc.File)
	for _, s := range inc.Sections {
		if !defined[s] {
			fmt.Fprintf(&b, "[%s]\n", s)
		}
	}
	fmt.Fprintf(&b, "#include \"%s\"\n", inc.File)
	return []byte(b.String()), nil
}

// includeTarget returns the file of an #include or #tryinclude line.
func includeTarget(line string) (string, bool) {
	for _, dir := range []string{"#include", "#tryinclude"} {
		if rest, ok := strings.CutPrefix(line, dir); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '"' || rest[0] == '<') {
			return strings.Trim(strings.TrimSpace(rest), `"<>`), true
		}
	}
	return "", false
}

// sameFile: an include target names file of the config directory,
// relatively or absolutely.
func (a *Applier) sameFile(target, file string) bool {
	if filepath.IsAbs(target) {
		return filepath.Clean(target) == filepath.Join(a.cfg.Dir, file)
	}
	return path.Clean(target) == file
}
