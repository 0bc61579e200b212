package store

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Stream names one sequence of changes: the changes made at one origin
// (cluster and incarnation) in one scope. It is written
// "cluster.incarnation" for enterprise-wide tables and
// "cluster.incarnation.site" for a site's own tables, the incarnation as 16
// hex digits: "tpa1.3f2a9c1b4d5e6f70".
type Stream string

// MakeStream returns the stream of an origin in a scope ("" = enterprise).
func MakeStream(cluster string, incarnation uint64, scope string) Stream {
	s := fmt.Sprintf("%s.%016x", cluster, incarnation)
	if scope != "" {
		s += "." + scope
	}
	return Stream(s)
}

// Cluster returns the cluster that made the stream's changes.
func (s Stream) Cluster() string {
	c, _, _ := strings.Cut(string(s), ".")
	return c
}

// Incarnation returns the origin's incarnation.
func (s Stream) Incarnation() uint64 {
	_, rest, ok := strings.Cut(string(s), ".")
	if !ok {
		return 0
	}
	inc, _, _ := strings.Cut(rest, ".")
	n, _ := strconv.ParseUint(inc, 16, 64)
	return n
}

// Scope returns the site of a site-scoped stream, or "" for enterprise-wide.
// (Cut, not Split: it is called per stream on every pull.)
func (s Stream) Scope() string {
	_, rest, _ := strings.Cut(string(s), ".")
	_, scope, _ := strings.Cut(rest, ".")
	return scope
}

// Valid reports whether s is well formed.
func (s Stream) Valid() bool {
	parts := strings.Split(string(s), ".")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || len(parts[1]) != 16 {
		return false
	}
	if _, err := strconv.ParseUint(parts[1], 16, 64); err != nil {
		return false
	}
	return len(parts) == 2 || parts[2] != ""
}

// Dot names one change: its stream and its sequence number in the stream.
type Dot struct {
	Stream Stream
	Seq    uint64
}

// String returns the change id users see: "tpa1.3f2a9c1b4d5e6f70:42".
func (d Dot) String() string { return string(d.Stream) + ":" + strconv.FormatUint(d.Seq, 10) }

// IsZero reports whether d names nothing.
func (d Dot) IsZero() bool { return d.Stream == "" && d.Seq == 0 }

// ParseDot parses a change id made by Dot.String.
func ParseDot(s string) (Dot, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Dot{}, fmt.Errorf("change id %q: want STREAM:SEQ, e.g. tpa1.3f2a9c1b4d5e6f70:42 (see 'pbxtopo history')", s)
	}
	seq, err := strconv.ParseUint(s[i+1:], 10, 64)
	st := Stream(s[:i])
	if err != nil || seq == 0 || !st.Valid() {
		return Dot{}, fmt.Errorf("change id %q: want STREAM:SEQ, e.g. tpa1.3f2a9c1b4d5e6f70:42 (see 'pbxtopo history')", s)
	}
	return Dot{st, seq}, nil
}

// FormatDots writes a record's version: its live dots joined with '+'
// (one dot for a record with one live version).
func FormatDots(ds []Dot) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, "+")
}

// ParseDots parses a version made by FormatDots.
func ParseDots(s string) ([]Dot, error) {
	var out []Dot
	for _, part := range strings.Split(s, "+") {
		d, err := ParseDot(part)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Summary holds, per stream, the highest sequence number applied. Streams
// are applied in order, so it names exactly the set of changes a replica
// has: every dot at or below it.
type Summary map[Stream]uint64

// Covers reports whether the change d is in the summary.
func (s Summary) Covers(d Dot) bool { return d.Seq <= s[d.Stream] }

// Clone returns a copy.
func (s Summary) Clone() Summary {
	c := make(Summary, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}

// Streams returns the streams in order.
func (s Summary) Streams() []Stream {
	out := make([]Stream, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Behind returns how many changes s lacks compared to other.
func (s Summary) Behind(other Summary) uint64 {
	var n uint64
	for st, seq := range other {
		if seq > s[st] {
			n += seq - s[st]
		}
	}
	return n
}

// Equal reports whether both summaries name the same changes.
func (s Summary) Equal(o Summary) bool {
	for k, v := range s {
		if o[k] != v {
			return false
		}
	}
	for k, v := range o {
		if s[k] != v {
			return false
		}
	}
	return true
}

// HLC is a hybrid logical clock timestamp: wall-clock milliseconds in the
// high 48 bits, a counter in the low 16. It orders history and breaks ties
// between concurrent versions; it never decides whether a write is allowed.
type HLC uint64

// hlcFromTime returns the HLC of a wall-clock time with a zero counter.
func hlcFromTime(t time.Time) HLC { return HLC(uint64(t.UnixMilli()) << 16) }

// Time returns the wall-clock part.
func (h HLC) Time() time.Time { return time.UnixMilli(int64(h >> 16)).UTC() }

// String formats h as an RFC 3339 time with the counter.
func (h HLC) String() string {
	return fmt.Sprintf("%s+%d", h.Time().Format("2006-01-02T15:04:05.000Z"), uint64(h)&0xffff)
}

// Now returns the hybrid clock timestamp of the local wall clock: what a
// Raft node proposes for a write.
func Now() HLC { return hlcFromTime(time.Now()) }
