package ui

import (
	"slices"
	"strings"
)

// RoamingView is the roaming report as the page shows it: rows coloured
// by the worst finding that names them, and the findings.
type RoamingView struct {
	Rows     []RoamingLine
	Findings []FindingLine
	Numbers  int
	Alerting map[string]int // unacknowledged findings by severity
}

// RoamingLine is one report row with its highlight.
type RoamingLine struct {
	RoamingRow
	State    State
	Findings []string // titles of the findings that name this row
}

// FindingLine is one finding with its colour.
type FindingLine struct {
	RoamingFinding
	State State
}

func severityState(sev string) State {
	switch strings.ToLower(sev) {
	case "critical":
		return Fail
	case "warning":
		return Warn
	}
	return OK
}

// roamingView highlights the rows that findings name. Acknowledged
// findings are listed but colour nothing.
func roamingView(rep *RoamingReport) RoamingView {
	v := RoamingView{Alerting: map[string]int{}}
	byRecord := map[string][]int{}
	for i, f := range rep.Findings {
		fl := FindingLine{RoamingFinding: f, State: severityState(f.Severity)}
		if f.Acked {
			fl.State = None
		} else {
			v.Alerting[strings.ToLower(f.Severity)]++
		}
		v.Findings = append(v.Findings, fl)
		for _, r := range f.Records {
			byRecord[r] = append(byRecord[r], i)
		}
	}
	slices.SortStableFunc(v.Findings, func(a, b FindingLine) int { return int(b.State) - int(a.State) })
	numbers := map[string]bool{}
	for _, r := range rep.Rows {
		line := RoamingLine{RoamingRow: r, State: OK}
		numbers[r.Extension] = true
		for _, i := range byRecord["extensions/"+r.Cluster+"/"+r.Extension] {
			f := rep.Findings[i]
			title := f.Title
			if title == "" {
				title = f.Rule
			}
			if !slices.Contains(line.Findings, title) {
				line.Findings = append(line.Findings, title)
			}
			if !f.Acked {
				line.State = worst(line.State, severityState(f.Severity))
			}
		}
		v.Rows = append(v.Rows, line)
	}
	v.Numbers = len(numbers)
	return v
}
