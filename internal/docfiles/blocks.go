package docfiles

import "strings"

// Block is one fenced code block of a documentation file.
type Block struct {
	Line  int      // the opening fence's line, from 1
	Lang  string   // the fence's info string: "sh", "console", "yaml", ""
	Lines []string // between the fences
	// NotRun is the reason given by a "<!-- not run: REASON -->" line
	// just above the fence: the examples test does not run the block.
	NotRun string
}

// Step is one command of a console block with the output shown for it.
type Step struct {
	Line    int // of the "$ " line, in the file
	Command string
	Output  []string
}

const notRunPrefix, notRunSuffix = "<!-- not run:", "-->"

// Blocks returns the fenced code blocks of a Markdown text, in order. A
// fence is a line starting with three backquotes and no other backquote
// after them, indented by up to three spaces (a block inside a list
// item); the block's lines lose that
// indentation. A block left open at the end is returned with what it
// holds.
func Blocks(text string) []Block {
	var blocks []Block
	var cur *Block
	indent, prev := "", ""
	for n, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```") && len(line)-len(trimmed) <= 3 &&
			!strings.Contains(strings.TrimLeft(trimmed, "`"), "`"): // else inline code: ```` ```sh ````
			indent = line[:len(line)-len(trimmed)]
			b := Block{Line: n + 1, Lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))}
			if p := strings.TrimSpace(prev); strings.HasPrefix(p, notRunPrefix) && strings.HasSuffix(p, notRunSuffix) {
				b.NotRun = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(p, notRunPrefix), notRunSuffix))
			}
			blocks = append(blocks, b)
			cur = &blocks[len(blocks)-1]
		case cur != nil && strings.TrimSpace(line) == "```":
			cur = nil
		case cur != nil:
			cur.Lines = append(cur.Lines, strings.TrimPrefix(line, indent))
		}
		prev = line
	}
	return blocks
}

// Steps reads a console block as a terminal shows it: each "$ " line is
// a command, "> " lines right after it go on with it (as the shell's
// second prompt shows them), and the lines up to the next command are its
// output. Lines before the first command are returned as stray.
func (b Block) Steps() (steps []Step, stray []string) {
	for i, l := range b.Lines {
		var last *Step
		if len(steps) > 0 {
			last = &steps[len(steps)-1]
		}
		switch {
		case strings.HasPrefix(l, "$ "):
			steps = append(steps, Step{Line: b.Line + 1 + i, Command: strings.TrimPrefix(l, "$ ")})
		case last != nil && len(last.Output) == 0 && strings.HasPrefix(l, "> "):
			last.Command += "\n" + strings.TrimPrefix(l, "> ")
		case last != nil:
			last.Output = append(last.Output, l)
		default:
			stray = append(stray, l)
		}
	}
	return steps, stray
}
