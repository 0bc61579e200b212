package service

import (
	"context"
	"fmt"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// MoveRequest moves an extension to another cluster.
type MoveRequest struct {
	From string `json:"from"` // CLUSTER/EXT
	To   string `json:"to"`   // the cluster it moves to
}

// MoveAPI moves extensions between clusters.
type MoveAPI interface {
	Move(ctx context.Context, req MoveRequest) (*WriteReply, error)
}

var (
	_ MoveAPI = (*Service)(nil)
)

// Move creates the extension on the target cluster and removes it from
// its cluster in one write: every reader, here and at every replica the
// change reaches, sees it on one cluster or the other, never on neither
// nor twice. Both changes name the move in their author, so the history
// of either key leads to the other. Roaming, DUNDi and DNS follow from the
// store.
func (s *Service) Move(ctx context.Context, req MoveRequest) (*WriteReply, error) {
	t := pbx.Extensions
	key, err := t.ParseKey(req.From)
	if err != nil {
		return nil, &Error{Code: 400, Msg: fmt.Sprintf("move %q: %v (give CLUSTER/EXT)", req.From, err)}
	}
	from, number := key["cluster"], key["regexten"]
	if req.To == "" || req.To == from {
		return nil, &Error{Code: 400, Msg: fmt.Sprintf("move %s: give another cluster to move it to (--to)", req.From)}
	}
	to := req.To + "/" + number
	ctx = WithAuthor(ctx, fmt.Sprintf("%s (move %s → %s)", Author(ctx), req.From, to))
	return s.update(ctx, func(sn *store.Snapshot) ([]store.Mutation, error) {
		from, r, err := supersede(sn, t.Name, req.From)
		if err != nil {
			return nil, err
		}
		if r == nil || !r.Exists() {
			return nil, &Error{Code: 404, Msg: fmt.Sprintf("extension %s does not exist", req.From), Err: store.ErrNotFound}
		}
		if _, exists, err := sn.GetFields(t.Name, to); err != nil {
			return nil, err
		} else if exists {
			return nil, &Error{Code: 409, Msg: fmt.Sprintf("extension %s already exists: remove it or choose another cluster", to), Err: store.ErrExists}
		}
		cluster, ok, err := sn.GetFields(pbx.Clusters.Name, req.To)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &Error{Code: 400, Msg: fmt.Sprintf("move %s: cluster %s does not exist", req.From, req.To)}
		}
		cur, err := pbx.DecodeFields(r.Value())
		if err != nil {
			return nil, err
		}
		if err := refuseUnknownFields(t, cur); err != nil {
			return nil, err
		}
		moved := cur.Clone()
		moved["cluster"], moved["site"] = req.To, cluster["site"]
		config, _ := t.SplitStatus(moved)
		full, err := t.Prepare(config, sn.Catalog())
		if err != nil {
			return nil, err
		}
		return []store.Mutation{{Table: t.Name, Key: to, Value: full.AppendBinary(nil), Must: store.MustNotExist}, from}, nil
	})
}
