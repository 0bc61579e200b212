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

// ReloadLines are the log lines written while a module reloaded, by what
// they mean for the reload.
type ReloadLines struct {
	// Problems are the reload's errors and warnings, and its notices that
	// drop or change a configured entry ("Ignoring invalid EID entry"):
	// Asterisk answered success, but the files are not what it runs.
	Problems []LogLine
	// Notices are the module's other notices meanwhile, which drop
	// nothing: "Ignoring bindport on reload" (chan_iax2 says it on every
	// reload of an iax.conf with bindport), a peer that became REACHABLE
	// or TOO LAGGED.
	Notices []LogLine
	// Other are the warnings and errors meanwhile that are not about the
	// reload: other modules', and the module's own at run time.
	Other []LogLine
}

// droppedNotice matches the notices with which Asterisk 22 drops or
// changes an entry of a file it loads (pbx_dundi's "Ignoring invalid EID
// entry", chan_iax2's "trunkmtu value out of bounds (0) at line 9",
// "iaxthreadcount must be at least 1."). Every other notice of these
// modules is about the running system (reachability, retries, calls) or
// about a setting that needs a restart ("Ignoring bindport on reload").
var droppedNotice = regexp.MustCompile(`(?i)invalid|at line \d+|must be|instead|limiting`)

// ClassifyReload sorts the log lines written while a module reloaded.
//
// Where the log has verbose lines (a "full" log), loader.c's "Reloading
// module 'pbx_dundi.so'" names the reload's thread, and the module's lines
// of other threads are its running (a peer, a call) and not the reload's.
// Otherwise ("messages", notices and worse) a line is about the reload
// when it comes from the module's source file (pbx_dundi.so →
// pbx_dundi.c) and is not one of the messages the module logs at run
// time (runtimeLine). Either way the config parser's lines about one of
// the files written and the loader's about the module are the reload's,
// and so is every line of a thread such a line came from (the reload
// runs in one thread: "getaddrinfo ... failed" from netsock2.c comes with
// pbx_dundi.c's "Unable to find host"), except the thread of a notice
// that drops nothing (a peer's reachability is logged by DUNDi's network
// thread).
func ClassifyReload(lines []LogLine, module string, files []string) ReloadLines {
	src := strings.TrimSuffix(module, ".so") + ".c"
	reload := map[int]bool{}
	for _, l := range lines {
		if l.Source == "loader.c" && strings.HasPrefix(l.Message, "Reloading module '"+module+"'") {
			reload[l.Thread] = true
		}
	}
	about := func(l LogLine) bool {
		switch {
		case l.Source == "config.c" || l.Source == "loader.c":
			return relatedLine(l, module, src, files)
		case len(reload) > 0:
			return reload[l.Thread]
		}
		return l.Source == src && !runtimeLine(l)
	}
	threads := map[int]bool{}
	for _, l := range lines {
		if about(l) && (l.Level != "NOTICE" || dropsEntry(l)) {
			threads[l.Thread] = true
		}
	}
	var r ReloadLines
	for _, l := range lines {
		ours := about(l) || threads[l.Thread] && !runtimeLine(l)
		switch {
		case ours && dropsEntry(l):
			r.Problems = append(r.Problems, l)
		case (ours || l.Source == src) && l.Level == "NOTICE":
			r.Notices = append(r.Notices, l)
		case problemLevel(l.Level) && l.Level != "NOTICE":
			r.Other = append(r.Other, l)
		}
	}
	return r
}

// runtimeMessages are the warnings and errors modules log while running,
// never while loading a file (from Asterisk 22's source): DUNDi's network
// thread, its lookups and its dialplan functions.
var runtimeMessages = map[string][]string{
	"pbx_dundi.c": {"Failed to transmit", "Error: ", "midget packet", "write() failed", "Unable to create thread",
		"Out of memory", "Tried to ", "This shouldn't happen", "Whoa", "Failed to parse DUNDI information elements",
		"cannot be specified by DUNDi peers", "PJSIP calls require", "PJSIP destination is empty",
		"DUNDILOOKUP", "DUNDIQUERY", "DUNDIRESULT", "DUNDRESULT", "No DUNDi results", "Result number", "A result",
		"Invalid value", "pipe"},
}

// runtimeLine: a line the module logs while running, not loading.
func runtimeLine(l LogLine) bool {
	for _, m := range runtimeMessages[l.Source] {
		if strings.HasPrefix(l.Message, m) {
			return true
		}
	}
	return false
}

// dropsEntry: an error or warning, or a notice that drops an entry.
func dropsEntry(l LogLine) bool {
	if l.Level == "NOTICE" {
		return droppedNotice.MatchString(l.Message) && !strings.Contains(l.Message, "on reload")
	}
	return problemLevel(l.Level)
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
