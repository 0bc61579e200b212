package docfiles

import (
	"reflect"
	"strings"
	"testing"
)

func TestBlocksAndSteps(t *testing.T) {
	text := strings.Join([]string{
		"# x",                          // 1
		"<!-- not run: needs root -->", // 2
		"```sh",                        // 3
		"make chaos-net",               // 4
		"```",                          // 5
		"```console",                   // 6
		"$ pbxtopo a \\",               // 7
		">   --b",                      // 8
		"one",                          // 9
		"two",                          // 10
		"$ pbxtopo c",                  // 11
		"```",                          // 12
		"```` ```sh ```` in a line",    // 13
		"   ```console",                // 14
		"   $ curl x",                  // 15
		"   ```",                       // 16
		"```yaml",                      // 17
		"k: v",                         // 18
	}, "\n")
	blocks := Blocks(text)
	if len(blocks) != 4 {
		t.Fatalf("%d blocks, want 4: %+v", len(blocks), blocks)
	}
	if b := blocks[2]; b.Line != 14 || b.Lang != "console" || !reflect.DeepEqual(b.Lines, []string{"$ curl x"}) {
		t.Errorf("indented block %+v", b)
	}
	if b := blocks[0]; b.Line != 3 || b.Lang != "sh" || b.NotRun != "needs root" || !reflect.DeepEqual(b.Lines, []string{"make chaos-net"}) {
		t.Errorf("first block %+v", b)
	}
	if b := blocks[3]; b.Lang != "yaml" || b.NotRun != "" || !reflect.DeepEqual(b.Lines, []string{"k: v"}) {
		t.Errorf("unclosed block %+v", b)
	}
	steps, stray := blocks[1].Steps()
	want := []Step{
		{Line: 7, Command: "pbxtopo a \\\n  --b", Output: []string{"one", "two"}},
		{Line: 11, Command: "pbxtopo c"},
	}
	if !reflect.DeepEqual(steps, want) || stray != nil {
		t.Errorf("steps %+v stray %q, want %+v", steps, stray, want)
	}
	if _, stray := (Block{Lines: []string{"output first", "$ x"}}).Steps(); len(stray) != 1 {
		t.Errorf("stray %q, want the line before the first command", stray)
	}
}

func FuzzBlocks(f *testing.F) {
	f.Add("```console\n$ a \\\n> b\nout\n```\n<!-- not run: x -->\n```sh\ny\n```")
	f.Add("```\n```\n```")
	f.Fuzz(func(t *testing.T, text string) {
		lines := strings.Count(text, "\n") + 1
		for _, b := range Blocks(text) {
			if b.Line < 1 || b.Line > lines || len(b.Lines) > lines {
				t.Fatalf("block %+v out of a text of %d lines", b, lines)
			}
			steps, _ := b.Steps()
			for _, s := range steps {
				if s.Line <= b.Line || s.Line > lines {
					t.Fatalf("step %+v outside its block at line %d", s, b.Line)
				}
			}
		}
	})
}
