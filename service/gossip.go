package service

import (
	"context"
)

// GossipKeys manages the gossip encryption keyring of the whole
// enterprise (Serf propagates every operation to every member).
type GossipKeys interface {
	Keys() (map[string]int, error)
	InstallKey(key string) error
	UseKey(key string) error
	RemoveKey(key string) error
}

// GossipAPI is key rotation through the agent.
type GossipAPI interface {
	GossipKeys(ctx context.Context) (map[string]int, error)
	GossipKeyOp(ctx context.Context, op, key string) error
}

var (
	_ GossipAPI = (*Service)(nil)
)

// GossipKeys lists the installed keys and how many members hold each.
func (s *Service) GossipKeys(ctx context.Context) (map[string]int, error) {
	if s.deps.Keys == nil {
		return nil, s.needAgent("gossip keys")
	}
	return s.deps.Keys.Keys()
}

// GossipKeyOp installs, uses or removes a key on every member.
func (s *Service) GossipKeyOp(ctx context.Context, op, key string) error {
	if s.deps.Keys == nil {
		return s.needAgent("gossip keys")
	}
	var err error
	switch op {
	case "install":
		err = s.deps.Keys.InstallKey(key)
	case "use":
		err = s.deps.Keys.UseKey(key)
	case "remove":
		err = s.deps.Keys.RemoveKey(key)
	default:
		return &Error{Code: 400, Msg: "gossip key operation " + op + ": use install, use or remove"}
	}
	if err != nil {
		return &Error{Code: 400, Msg: "gossip key " + op + ": " + err.Error(), Err: err}
	}
	return nil
}
