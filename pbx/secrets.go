package pbx

import (
	"sort"
	"strings"
)

// defaultSecrets are the values found on scanned and compromised PBXs:
// vendor defaults and the first guesses of every SIP scanner.
var defaultSecrets = map[string]bool{
	"1234": true, "12345": true, "123456": true, "1234567": true, "12345678": true,
	"0000": true, "1111": true, "4321": true, "password": true, "secret": true,
	"pass": true, "admin": true, "asterisk": true, "changeme": true, "voip": true,
	"sip": true, "default": true, "test": true, "qwerty": true,
}

// WeakSecret returns the rule a SIP secret breaks, or "" when it breaks
// none. It never returns the secret itself, so the answer may be printed.
func WeakSecret(secret, ext string, minLen int) string {
	switch {
	case secret == "":
		return "empty"
	case defaultSecrets[strings.ToLower(secret)]:
		return "a well-known default"
	case secret == ext:
		return "equal to the extension number"
	case len(secret) < minLen:
		return "shorter than the minimum length"
	case isRun(secret):
		return "a repeated or sequential pattern"
	}
	return ""
}

// WeakPIN returns the rule a voicemail PIN breaks, or "".
func WeakPIN(pin, ext string, minLen int) string {
	if r := WeakSecret(pin, ext, minLen); r != "" {
		return r
	}
	if strings.Contains(pin, ext) && ext != "" {
		return "contains the extension number"
	}
	return ""
}

// isRun reports a string of one repeated character or a run of consecutive
// ascending or descending characters (111111, 123456, 654321, abcdef).
func isRun(s string) bool {
	if len(s) < 3 {
		return false
	}
	same, up, down := true, true, true
	for i := 1; i < len(s); i++ {
		d := int(s[i]) - int(s[i-1])
		same = same && d == 0
		up = up && d == 1
		down = down && d == -1
	}
	return same || up || down
}

func sortStrings(s []string) { sort.Strings(s) }
