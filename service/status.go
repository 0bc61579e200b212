package service

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// StatusAPI is the live status the AMI collectors keep in the store's
// status space: the node's verify report (pbxtopo status) and the status
// of every extension (the guide's home page at a glance).
type StatusAPI interface {
	StatusReport(ctx context.Context, node string) (*ami.Report, error)
	ExtensionStatus(ctx context.Context, cluster string) ([]pbx.Fields, error)
}

var (
	_ StatusAPI = (*Service)(nil)
)

// replicaOf returns the cluster of the service's store.
func (s *Service) replicaOf() string {
	if s.deps.Cluster != "" {
		return s.deps.Cluster
	}
	if r, ok := baseStore(s.st).(interface{ Replica() string }); ok {
		return r.Replica()
	}
	return ""
}

// StatusReport implements StatusAPI over the local store: the report of
// node (or of the node holding the VIP) of this store's cluster.
func (s *Service) StatusReport(ctx context.Context, node string) (*ami.Report, error) {
	var r *ami.Report
	err := s.st.View(func(sn *store.Snapshot) error {
		var err error
		r, err = ami.BuildReport(sn, s.replicaOf(), node, time.Now(), ami.DefaultStaleness)
		return err
	})
	if err == nil && s.deps.Certs != nil {
		r.Problems = append(r.Problems, certWarnings(s.deps.Certs(), time.Now())...)
	}
	if err == nil && s.deps.Published != nil && (r.Node == s.deps.Node || r.Node == "") {
		r.AddPublished(s.deps.Published())
	}
	if h := s.dnsHold(); h != nil && err == nil {
		if r.Verdict == "NORMAL" {
			r.Verdict = "DEGRADED"
		}
		r.Problems = append(r.Problems, fmt.Sprintf("DNS health held until %s: this node lost %s (%d of %d clusters) at once "+
			"and answers from its last good view (the hold-down rule)", h.Until.UTC().Format(time.RFC3339), strings.Join(h.Lost, ", "), len(h.Lost), h.Known))
	}
	return r, UserError(err)
}

// ExtensionStatus implements StatusAPI: every configured extension of a
// cluster (this store's when cluster is "") with its merged status
// columns.
func (s *Service) ExtensionStatus(ctx context.Context, cluster string) ([]pbx.Fields, error) {
	if cluster == "" {
		cluster = s.replicaOf()
	}
	var rows []pbx.Fields
	err := s.st.View(func(sn *store.Snapshot) error {
		status, err := ami.Extensions(sn, cluster)
		if err != nil {
			return err
		}
		return sn.Scan("extensions", cluster+"/", func(key string, value []byte) error {
			row := pbx.Fields{"cluster": cluster}
			for _, f := range []string{"regexten", "name", "astgroup", "mailbox"} {
				row[f], _ = pbx.LookupField(value, f)
			}
			if v, ok := status[key]; ok {
				for k, val := range v.Fields {
					row[k] = val
				}
			}
			rows = append(rows, row.Compact())
			return nil
		})
	})
	sort.SliceStable(rows, func(i, j int) bool { return rows[i]["regexten"] < rows[j]["regexten"] })
	if rows == nil {
		rows = []pbx.Fields{}
	}
	return rows, UserError(err)
}
