package service

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// HoursAPI answers "open now?" for a group and makes its GotoIfTime
// dialplan (`pbxtopo hours`).
type HoursAPI interface {
	// HoursNow decides, for every cluster where the group has business
	// hours (or only cluster, when given), whether it is open at at.
	HoursNow(ctx context.Context, group, cluster string, at time.Time) (*HoursAnswer, error)
	// HoursDialplan returns the group's GotoIfTime routine per cluster.
	HoursDialplan(ctx context.Context, group, cluster string) (*HoursDialplanView, error)
}

var (
	_ HoursAPI = (*Service)(nil)
)

// HoursAnswer is the answer of HoursNow.
type HoursAnswer struct {
	Group     string              `json:"group"`
	At        string              `json:"at"` // RFC 3339, UTC
	Decisions []pbx.HoursDecision `json:"decisions"`
}

// HoursDialplanView is the answer of HoursDialplan.
type HoursDialplanView struct {
	Group string `json:"group"`
	// Contexts maps each cluster to its [pbxtopo-hours-CLUSTER-GROUP].
	Contexts map[string]string `json:"contexts"`
	Text     string            `json:"text"`
}

// hoursRules reads the group's rules, by cluster, each in the time zone of
// its record or else of its site.
func hoursRules(sn *store.Snapshot, group, cluster string) (map[string][]pbx.HoursRule, error) {
	prefix := ""
	if cluster != "" {
		prefix = cluster + "/"
	}
	out := map[string][]pbx.HoursRule{}
	var bad error
	err := sn.Scan(pbx.Hours.Name, prefix, func(key string, v []byte) error {
		if !pbx.HasField(v, "group", group) {
			return nil
		}
		f, err := pbx.DecodeFields(v)
		if err != nil {
			return err
		}
		site := f["site"]
		if site == "" {
			if c, ok, _ := sn.GetFields(pbx.Clusters.Name, f["cluster"]); ok {
				site = c["site"]
			}
		}
		zone := ""
		if s, ok, _ := sn.GetFields(pbx.Sites.Name, site); ok {
			zone = s["timezone"]
		}
		r, err := pbx.ParseHoursRule(f, zone)
		if err != nil {
			bad = err
			return nil
		}
		out[r.Cluster] = append(out[r.Cluster], r)
		return nil
	})
	if err == nil && bad != nil {
		err = &Error{Code: 409, Msg: bad.Error(), Err: bad}
	}
	if err == nil && len(out) == 0 {
		where := ""
		if cluster != "" {
			where = " at cluster " + cluster
		}
		err = &Error{Code: 404, Msg: "group " + group + " has no business hours" + where + ": add rows to the hours table (pbxtopo import FILE)", Err: store.ErrNotFound}
	}
	return out, err
}

func sortedClusters(m map[string][]pbx.HoursRule) []string {
	cs := make([]string, 0, len(m))
	for c := range m {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	return cs
}

// HoursNow implements HoursAPI.
func (s *Service) HoursNow(ctx context.Context, group, cluster string, at time.Time) (*HoursAnswer, error) {
	ans := &HoursAnswer{Group: group, At: at.UTC().Format(time.RFC3339)}
	err := s.st.View(func(sn *store.Snapshot) error {
		rules, err := hoursRules(sn, group, cluster)
		if err != nil {
			return err
		}
		for _, c := range sortedClusters(rules) {
			ans.Decisions = append(ans.Decisions, pbx.DecideHours(rules[c], at))
		}
		return nil
	})
	return ans, UserError(err)
}

// HoursDialplan implements HoursAPI.
func (s *Service) HoursDialplan(ctx context.Context, group, cluster string) (*HoursDialplanView, error) {
	v := &HoursDialplanView{Group: group, Contexts: map[string]string{}}
	err := s.st.View(func(sn *store.Snapshot) error {
		rules, err := hoursRules(sn, group, cluster)
		if err != nil {
			return err
		}
		var parts []string
		for _, c := range sortedClusters(rules) {
			v.Contexts[c] = pbx.HoursDialplan(c, group, rules[c])
			parts = append(parts, v.Contexts[c])
		}
		v.Text = strings.Join(parts, "\n")
		return nil
	})
	return v, UserError(err)
}
