package roaming

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
)

func findingIDs(fs []Finding) []string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	return ids
}

func rowsOf(r *Report, number string) []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Extension == number {
			out = append(out, row)
		}
	}
	return out
}

// The guide's own example (§3.0.6): 5200 shows duplicate voicemail and a
// name mismatch; 5020, 5601-5603 and 6179 show nothing, because their
// mailbox lives on one cluster only.
func TestReportReproducesTheGuide(t *testing.T) {
	r, err := NewReport(load(t, sampleStore(t)), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	ids := findingIDs(r.Findings)
	for _, want := range []string{"ROAM-DUP-VM:5200", "ROAM-NAME-MISMATCH:5200", "ROAM-STANDARD:5200", "ROAM-LOCAL:5101"} {
		if !slices.Contains(ids, want) {
			t.Errorf("findings %v lack %s", ids, want)
		}
	}
	if len(ids) != 4 {
		t.Errorf("findings = %v, want exactly the four above", ids)
	}
	dup := r.Findings[slices.Index(ids, "ROAM-DUP-VM:5200")]
	if dup.Severity != Warning || len(dup.Records) != 3 || !strings.Contains(dup.Summary, "sfo (5200), tpa1 (5200), tpa2 (5200)") {
		t.Errorf("duplicate voicemail finding: %+v", dup)
	}
	name := r.Findings[slices.Index(ids, "ROAM-NAME-MISMATCH:5200")]
	if !strings.Contains(name.Summary, `"5200" on sfo, tpa1 and "Eddie Chissem" on tpa2`) {
		t.Errorf("name mismatch: %s", name.Summary)
	}
	if std := r.Findings[slices.Index(ids, "ROAM-STANDARD:5200")]; std.Severity != Info {
		t.Errorf("standard number severity %v", std.Severity)
	}
	for _, n := range []string{"5020", "5601", "5602", "5603", "6179"} {
		rows := rowsOf(r, n)
		if len(rows) != 2 {
			t.Fatalf("%s: %d rows, want 2", n, len(rows))
		}
		homes := 0
		for _, row := range rows {
			if len(row.Findings) > 0 {
				t.Errorf("%s on %s has findings %v", n, row.Cluster, row.Findings)
			}
			switch row.Voicemail {
			case VMHome:
				homes++
			case VMElsewhere:
				if row.HomeCluster == "" || row.HomeCluster == row.Cluster {
					t.Errorf("%s on %s: home cluster %q", n, row.Cluster, row.HomeCluster)
				}
			default:
				t.Errorf("%s on %s: voicemail %q", n, row.Cluster, row.Voicemail)
			}
		}
		if homes != 1 {
			t.Errorf("%s: %d home rows", n, homes)
		}
	}
	for _, row := range rowsOf(r, "5200") {
		if row.Voicemail != VMDuplicate || !slices.Contains(row.Findings, RuleDupVoicemail) || !slices.Contains(row.Findings, RuleNameMismatch) {
			t.Errorf("5200 row %+v", row)
		}
	}
	// Numbers marked roaming on one cluster only are in the report, clean.
	for _, n := range []string{"5604", "6102", "6109"} {
		if rows := rowsOf(r, n); len(rows) != 1 || rows[0].Voicemail != VMHome || len(rows[0].Findings) > 0 {
			t.Errorf("%s rows %+v", n, rows)
		}
	}
	// 5101 is a per-site number on five clusters: reported, informational.
	if rows := rowsOf(r, "5101"); len(rows) != 5 || rows[0].Voicemail != VMLocal || rows[0].Findings[0] != RuleLocal {
		t.Errorf("5101 rows %+v", rows)
	}
	// Numbers on one cluster without roaming are not in the report.
	if rows := rowsOf(r, "6101"); len(rows) != 0 {
		t.Errorf("6101 is in the report: %+v", rows)
	}
	if r.Numbers != 10 {
		t.Errorf("numbers = %d, want 10 (5020 5101 5200 5601-5604 6102 6109 6179)", r.Numbers)
	}
}

func TestReportCollisionAndNoVoicemail(t *testing.T) {
	st := sampleStore(t)
	change(t, st, pbx.Extensions, "lon/5601", pbx.Fields{"roaming": "no"})
	change(t, st, pbx.Extensions, "sfo/5604", pbx.Fields{"mailbox": ""})
	r, err := NewReport(load(t, st), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	ids := findingIDs(r.Findings)
	if !slices.Contains(ids, "ROAM-COLLISION:5601") || !slices.Contains(ids, "ROAM-NO-VM:5604") {
		t.Fatalf("findings %v", ids)
	}
	c := r.Findings[slices.Index(ids, "ROAM-COLLISION:5601")]
	if c.Summary != "5601 is roaming on sfo but local on lon" || !strings.Contains(c.Fix, "lon/5601 roaming=yes") {
		t.Fatalf("collision %+v", c)
	}
	for _, row := range rowsOf(r, "5604") {
		if row.Voicemail != VMNone {
			t.Fatalf("5604 %+v", row)
		}
	}
}

func TestReportFilterAndSort(t *testing.T) {
	e := load(t, sampleStore(t))
	r, err := NewReport(e, Filter{Cluster: "lon"})
	if err != nil {
		t.Fatal(err)
	}
	var nums []string
	for _, row := range r.Rows {
		if row.Cluster != "lon" {
			t.Fatalf("row of %s in a lon report", row.Cluster)
		}
		nums = append(nums, row.Extension)
	}
	if strings.Join(nums, ",") != "5101,5601,5602,5603" || slices.Contains(findingIDs(r.Findings), "ROAM-DUP-VM:5200") {
		t.Fatalf("lon rows %v findings %v", nums, findingIDs(r.Findings))
	}
	r, _ = NewReport(e, Filter{Group: "development"})
	if len(r.Rows) != 2 || r.Numbers != 1 {
		t.Fatalf("development rows %+v", r.Rows)
	}
	r, _ = NewReport(e, Filter{Site: "tpa", Sort: "name", Desc: true})
	if r.Rows[0].Name != "Tampa IT HelpDesk" || r.Rows[len(r.Rows)-1].Name != "5200" {
		t.Fatalf("tpa by name desc: first %q last %q", r.Rows[0].Name, r.Rows[len(r.Rows)-1].Name)
	}
	if _, err := NewReport(e, Filter{Sort: "nme"}); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), `did you mean "name"`) {
		t.Fatalf("bad sort: %v", err)
	}
}

func TestNaturalCompare(t *testing.T) {
	in := []string{"1000", "999", "5020", "a10", "a9", "007", "7", "+44"}
	slices.SortFunc(in, naturalCompare)
	if got := strings.Join(in, " "); got != "+44 007 7 999 1000 5020 a9 a10" && got != "+44 7 007 999 1000 5020 a9 a10" {
		t.Fatalf("natural order: %s", got)
	}
}
