package ami

import (
	"regexp"
	"strconv"
	"strings"
)

// LogLine is one line of Asterisk's log file.
type LogLine struct {
	Time    string `json:"time"`
	Level   string `json:"level"` // ERROR, WARNING, NOTICE, VERBOSE, DEBUG...
	Thread  int    `json:"thread"`
	Source  string `json:"source"` // the C file: pbx_dundi.c, config.c
	Message string `json:"message"`
}

// String returns the line as Asterisk wrote it (less the call id).
func (l LogLine) String() string {
	return "[" + l.Time + "] " + l.Level + "[" + strconv.Itoa(l.Thread) + "] " + l.Source + ": " + l.Message
}

// Asterisk's file logger writes "[date] LEVEL[thread][C-callid] file.c:
// message" (the call id only inside calls); some versions and the
// "logger show" console form put "file.c:line function:" instead.
var logLineRE = regexp.MustCompile(`^\[([^\]]+)\]\s+([A-Z]+)\[(\d+)\](?:\[[^\]]*\])?:?\s+([\w./-]+\.[ch])(?::\d+(?:\s+(?:in\s+)?[\w]+)?)?:\s?(.*)$`)

// ParseLog splits log text into lines; a line that does not start a log
// entry continues the previous one (multi-line messages).
func ParseLog(text string) []LogLine {
	var out []LogLine
	for _, raw := range strings.Split(text, "\n") {
		raw = strings.TrimRight(raw, "\r")
		if raw == "" {
			continue
		}
		m := logLineRE.FindStringSubmatch(raw)
		if m == nil {
			if len(out) > 0 {
				out[len(out)-1].Message += "\n" + raw
			}
			continue
		}
		tid, _ := strconv.Atoi(m[3])
		out = append(out, LogLine{Time: m[1], Level: m[2], Thread: tid, Source: m[4], Message: m[5]})
	}
	return out
}

// ClassifyReload splits the log lines written while a module reloaded
// into the problems of that reload and the rest. A line belongs to the
// reload when it comes from the module's source file (pbx_dundi.so →
// pbx_dundi.c), from the config parser about one of the files written, or
// from the loader about the module; and so does every line of the same
// thread (the reload runs in one thread: "getaddrinfo ... failed" from
// netsock2.c comes with pbx_dundi.c's "Unable to find host"). A problem
// is a line of the reload at level NOTICE or above: Asterisk reports
// dropped config entries as warnings and some as notices ("Ignoring
// invalid EID entry").
func ClassifyReload(lines []LogLine, module string, files []string) (problems, other []LogLine) {
	src := strings.TrimSuffix(module, ".so") + ".c"
	threads := map[int]bool{}
	for _, l := range lines {
		if relatedLine(l, module, src, files) {
			threads[l.Thread] = true
		}
	}
	for _, l := range lines {
		if (threads[l.Thread] || relatedLine(l, module, src, files)) && problemLevel(l.Level) {
			problems = append(problems, l)
		} else if problemLevel(l.Level) {
			other = append(other, l)
		}
	}
	return problems, other
}

func relatedLine(l LogLine, module, src string, files []string) bool {
	switch l.Source {
	case src:
		return true
	case "config.c":
		for _, f := range files {
			if strings.Contains(l.Message, f) {
				return true
			}
		}
	case "loader.c":
		return strings.Contains(l.Message, module)
	}
	return false
}

func problemLevel(level string) bool {
	switch level {
	case "ERROR", "WARNING", "NOTICE", "SECURITY":
		return true
	}
	return false
}
