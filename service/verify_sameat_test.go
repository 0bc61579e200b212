package service

import "testing"

func TestVerifySameAt(t *testing.T) {
	v := &VerifyReport{Cluster: "tpa1", Rows: []VerifyRow{
		{Cluster: "sfo", State: "same"}, {Cluster: "lon", State: "catching-up"},
		{Cluster: "ams", State: "unreachable", Error: "no node of ams is in the membership"},
	}}
	for _, tc := range []struct {
		clusters []string
		want     bool
	}{
		{[]string{"tpa1", "sfo"}, true},         // ams, never started, does not count
		{[]string{"tpa1", "sfo", "lon"}, false}, // lon still catching up
		{[]string{"tpa1", "sfo", "nyc"}, false}, // nyc is not in the report at all
		{[]string{"tpa1", "sfo", "ams"}, false}, // ams runs and cannot be reached
	} {
		if got := v.SameAt(tc.clusters); got != tc.want {
			t.Errorf("SameAt(%v) = %v, want %v", tc.clusters, got, tc.want)
		}
	}
}
