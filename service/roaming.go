package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/store"
)

// RoamingAPI is the roaming report, the audit with its acknowledgements,
// and DUNDi publishing. The Service implements it over the local store,
// the Client over an agent's HTTP API.
type RoamingAPI interface {
	Roaming(ctx context.Context, f roaming.Filter) (*roaming.Report, error)
	Audit(ctx context.Context, q AuditQuery) (*roaming.AuditResult, error)
	Ack(ctx context.Context, req AckRequest) (*WriteReply, error)
	Unack(ctx context.Context, finding string) (*WriteReply, error)
	DUNDiConfig(ctx context.Context, cluster string) (*roaming.Bundle, error)
}

var (
	_ RoamingAPI = (*Service)(nil)
)

// AuditQuery selects the findings and sets the policy of an audit. Zero
// values take roaming.DefaultConfig.
type AuditQuery struct {
	Severity        string   `json:"severity,omitempty"` // info (default), warning or critical
	MinSecretLength int      `json:"min_secret_length,omitempty"`
	MinPINLength    int      `json:"min_pin_length,omitempty"`
	HotDeskContexts []string `json:"hotdesk_contexts,omitempty"`
}

// config returns the audit policy and the lowest severity shown.
func (q AuditQuery) config() (roaming.Config, roaming.Severity, error) {
	cfg := roaming.DefaultConfig()
	if q.MinSecretLength > 0 {
		cfg.MinSecretLength = q.MinSecretLength
	}
	if q.MinPINLength > 0 {
		cfg.MinPINLength = q.MinPINLength
	}
	cfg.HotDeskContexts = q.HotDeskContexts
	sev := roaming.Info
	if q.Severity != "" {
		var err error
		if sev, err = roaming.ParseSeverity(q.Severity); err != nil {
			return cfg, sev, err
		}
	}
	return cfg, sev, cfg.Validate()
}

// AckRequest acknowledges one finding.
type AckRequest struct {
	Finding string `json:"finding"`
	By      string `json:"by,omitempty"` // who; the caller's name when empty
	Why     string `json:"why"`
}

// roamingError maps the roaming package's errors to API codes.
func roamingError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, roaming.ErrBadRequest):
		return &Error{Code: 400, Msg: err.Error(), Err: err}
	case errors.Is(err, roaming.ErrUnknownCluster), errors.Is(err, roaming.ErrUnknownFinding):
		return &Error{Code: 404, Msg: err.Error(), Err: err}
	}
	return UserError(err)
}

// load reads the enterprise in one snapshot and hands it to fn.
func (s *Service) load(policy roaming.Policy, fn func(*roaming.Enterprise) error) error {
	return s.st.View(func(sn *store.Snapshot) error {
		e, err := roaming.Load(sn, policy)
		if err != nil {
			return err
		}
		return fn(e)
	})
}

// Roaming returns the roaming report.
func (s *Service) Roaming(ctx context.Context, f roaming.Filter) (*roaming.Report, error) {
	var r *roaming.Report
	err := s.load(roaming.DefaultConfig().Policy, func(e *roaming.Enterprise) error {
		var err error
		r, err = roaming.NewReport(e, f)
		return err
	})
	return r, roamingError(err)
}

// Audit runs every roaming and security rule. Trunk registrations come
// from the status the AMI collectors write (a trunk no node reports on is
// unknown, not unregistered).
func (s *Service) Audit(ctx context.Context, q AuditQuery) (*roaming.AuditResult, error) {
	cfg, sev, err := q.config()
	if err != nil {
		return nil, roamingError(err)
	}
	var r *roaming.AuditResult
	err = s.st.View(func(sn *store.Snapshot) error {
		e, err := roaming.Load(sn, cfg.Policy)
		if err != nil {
			return err
		}
		r = roaming.Audit(e, cfg, ami.NewTrunkRegistrations(sn), sev)
		return nil
	})
	return r, roamingError(err)
}

// Ack acknowledges a current finding: it stays in every audit but stops
// alerting. The acknowledgement is a record of table acks and replicates.
func (s *Service) Ack(ctx context.Context, req AckRequest) (*WriteReply, error) {
	if req.By == "" {
		req.By = Author(ctx)
	}
	if strings.TrimSpace(req.Why) == "" {
		return nil, &Error{Code: 400, Msg: "say why the finding is accepted (--why TEXT): the next admin will want to know"}
	}
	var mut store.Mutation
	err := s.load(roaming.DefaultConfig().Policy, func(e *roaming.Enterprise) error {
		found := false
		for _, f := range roaming.Audit(e, roaming.DefaultConfig(), nil, roaming.Info).Findings {
			found = found || f.ID == req.Finding
		}
		if !found {
			return fmt.Errorf("%w %q: run 'pbxtopo audit' for the ids of the current findings", roaming.ErrUnknownFinding, req.Finding)
		}
		rec, err := pbx.Acks.Check(pbx.Fields{"finding": req.Finding, "by": req.By, "why": req.Why,
			"at": time.Now().UTC().Format(time.RFC3339)})
		if err != nil {
			return err
		}
		mut = store.Mutation{Table: pbx.Acks.Name, Key: req.Finding, Value: rec.AppendBinary(nil)}
		return nil
	})
	if err != nil {
		return nil, roamingError(err)
	}
	return s.write(ctx, []store.Mutation{mut})
}

// Unack removes the acknowledgement of a finding, which alerts again.
func (s *Service) Unack(ctx context.Context, finding string) (*WriteReply, error) {
	reply, err := s.write(ctx, []store.Mutation{{Table: pbx.Acks.Name, Key: finding, Must: store.MustExist}})
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Code: 404, Msg: fmt.Sprintf("finding %s is not acknowledged", finding), Err: err}
	}
	return reply, err
}

// DUNDiConfig generates one cluster's DUNDi files with the default
// settings.
func (s *Service) DUNDiConfig(ctx context.Context, cluster string) (*roaming.Bundle, error) {
	if cluster == "" {
		return nil, &Error{Code: 400, Msg: "say which cluster's DUNDi config you want (--cluster C)"}
	}
	var b *roaming.Bundle
	err := s.load(roaming.DefaultConfig().Policy, func(e *roaming.Enterprise) error {
		var err error
		b, err = roaming.NewBundle(e, cluster, roaming.DefaultDUNDiConfig())
		return err
	})
	return b, roamingError(err)
}
