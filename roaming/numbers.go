package roaming

import (
	"fmt"
	"slices"
	"strings"
)

// numberRuns calls fn with the extensions of each number (indices into
// e.Extensions, ordered by cluster). Numbers come shortest first, then in
// byte order: natural order for plain numbers, and cheap to sort. The
// order is computed once per Enterprise.
func (e *Enterprise) numberRuns(fn func(idx []int32)) {
	e.byNumberOnce.Do(func() {
		idx := make([]int32, len(e.Extensions))
		for i := range idx {
			idx[i] = int32(i)
		}
		slices.SortFunc(idx, func(a, b int32) int {
			x, y := &e.Extensions[a], &e.Extensions[b]
			if len(x.Number) != len(y.Number) {
				return len(x.Number) - len(y.Number)
			}
			if c := strings.Compare(x.Number, y.Number); c != 0 {
				return c
			}
			return strings.Compare(x.Cluster, y.Cluster)
		})
		e.byNumber = idx
	})
	idx := e.byNumber
	for lo := 0; lo < len(idx); {
		hi := lo + 1
		for hi < len(idx) && e.Extensions[idx[hi]].Number == e.Extensions[idx[lo]].Number {
			hi++
		}
		fn(idx[lo:hi])
		lo = hi
	}
}

// number is one number's extensions and what the roaming rules found.
type number struct {
	exts       []*Extension
	anyRoaming bool
	allRoaming bool
	boxes      []*Extension // extensions with a mailbox
	findings   []Finding
}

// reported reports whether the number belongs in the roaming report:
// present on several clusters, or marked roaming.
func (n *number) reported() bool { return len(n.exts) > 1 || n.anyRoaming }

// analyze applies the roaming rules to one number. It reuses n's slices:
// the findings it returns must be copied out before the next call.
func (e *Enterprise) analyze(idx []int32, n *number) *number {
	*n = number{exts: n.exts[:0], boxes: n.boxes[:0], findings: n.findings[:0], allRoaming: true}
	for _, j := range idx {
		x := &e.Extensions[j]
		n.exts = append(n.exts, x)
		n.anyRoaming = n.anyRoaming || x.Roaming
		n.allRoaming = n.allRoaming && x.Roaming
		if x.Mailbox != "" {
			n.boxes = append(n.boxes, x)
		}
	}
	if !n.reported() {
		return n
	}
	num := n.exts[0].Number
	all := func() []string { return extKeys(n.exts) }
	multi := len(n.exts) > 1
	switch {
	case !n.anyRoaming:
		n.add(newFinding(RuleLocal, []string{num},
			fmt.Sprintf("%s exists on %s, roaming on none: each cluster reaches its own %s", num, clusterList(n.exts), num),
			"nothing to do if each site means its own "+num+"; to make one "+num+" reachable everywhere, keep it on one cluster and set roaming=yes",
			all()...))
		return n
	case multi && !n.allRoaming:
		var on, off []*Extension
		for _, x := range n.exts {
			if x.Roaming {
				on = append(on, x)
			} else {
				off = append(off, x)
			}
		}
		n.add(newFinding(RuleCollision, []string{num},
			fmt.Sprintf("%s is roaming on %s but local on %s", num, clusterList(on), clusterList(off)),
			fmt.Sprintf("if it is one user or department, set roaming=yes on %s; otherwise renumber the local extension (pbxtopo ext set %s/%s roaming=yes)", clusterList(off), off[0].Cluster, num),
			all()...))
	}
	switch len(n.boxes) {
	case 0:
		n.add(newFinding(RuleNoVoicemail, []string{num},
			fmt.Sprintf("roaming number %s has no voicemail box on any cluster (%s)", num, clusterList(n.exts)),
			fmt.Sprintf("configure the mailbox on the home cluster only (pbxtopo ext set %s/%s mailbox=%s)", n.exts[0].Cluster, num, num),
			all()...))
	case 1:
	default:
		parts := make([]string, len(n.boxes))
		for i, b := range n.boxes {
			parts[i] = fmt.Sprintf("%s (%s)", b.Cluster, b.Mailbox)
		}
		n.add(newFinding(RuleDupVoicemail, []string{num},
			fmt.Sprintf("the voicemail of %s is configured on %d clusters: %s", num, len(n.boxes), strings.Join(parts, ", ")),
			fmt.Sprintf("keep the mailbox only on the home cluster and clear it on the others (pbxtopo ext set %s/%s mailbox=)", n.boxes[1].Cluster, num),
			extKeys(n.boxes)...))
	}
	if names := distinct(n.exts, func(x *Extension) string { return strings.TrimSpace(x.Name) }); len(names) > 1 {
		parts := make([]string, len(names))
		for i, nm := range names {
			parts[i] = fmt.Sprintf("%q on %s", nm.value, clusterList(nm.exts))
		}
		n.add(newFinding(RuleNameMismatch, []string{num},
			fmt.Sprintf("%s is named %s", num, strings.Join(parts, " and ")),
			fmt.Sprintf("use one name on every cluster (pbxtopo ext set %s/%s name=...)", names[len(names)-1].exts[0].Cluster, num),
			all()...))
	}
	if groups := distinct(n.exts, func(x *Extension) string { return x.Group }); multi && n.allRoaming && len(groups) > 1 {
		parts := make([]string, len(groups))
		for i, g := range groups {
			parts[i] = fmt.Sprintf("%s on %s", orDash(g.value), clusterList(g.exts))
		}
		n.add(newFinding(RuleStandard, []string{num},
			fmt.Sprintf("%s is a standard number answered by %s", num, strings.Join(parts, "; ")),
			"nothing to do if this is deliberate; each cluster's own "+num+" answers first and DUNDi finds the others",
			all()...))
	}
	return n
}

func (n *number) add(f Finding) { n.findings = append(n.findings, f) }

// roamingFindings returns the findings of every number.
func (e *Enterprise) roamingFindings() []Finding {
	var out []Finding
	var n number
	e.numberRuns(func(idx []int32) {
		if e.analyze(idx, &n); len(n.findings) > 0 {
			out = append(out, n.findings...)
		}
	})
	return out
}

type valueGroup struct {
	value string
	exts  []*Extension
}

// distinct groups extensions by a value, in order of first appearance.
func distinct(exts []*Extension, of func(*Extension) string) []valueGroup {
	same := true
	for _, x := range exts[1:] {
		same = same && of(x) == of(exts[0])
	}
	if same {
		return nil // the usual case: one value, nothing to report
	}
	var out []valueGroup
next:
	for _, x := range exts {
		v := of(x)
		for i := range out {
			if out[i].value == v {
				out[i].exts = append(out[i].exts, x)
				continue next
			}
		}
		out = append(out, valueGroup{v, []*Extension{x}})
	}
	return out
}

func clusterList(exts []*Extension) string {
	names := make([]string, len(exts))
	for i, x := range exts {
		names[i] = x.Cluster
	}
	return strings.Join(names, ", ")
}

func extKeys(exts []*Extension) []string {
	out := make([]string, len(exts))
	for i, x := range exts {
		out[i] = "extensions/" + x.Key()
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
