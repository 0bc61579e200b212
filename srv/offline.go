package srv

import (
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// OfflineZone is the zone as a server with cfg would serve it from the
// snapshot with every cluster up: for `pbxtopo dns zone` without an agent.
// The serial is the one an agent on this store last served for the same
// answers, or the one it would take next.
func OfflineZone(sn *store.Snapshot, cfg Config) (*Zone, uint32, error) {
	s, err := cfg.compile()
	if err != nil {
		return nil, 0, err
	}
	clusters, probs, err := LoadClusters(sn)
	if err != nil {
		return nil, 0, err
	}
	z := buildZone(zoneInput{s, uint32(cfg.TTL)}, clusters, probs, nil)
	kept := loadSerial(sn, s.origin)
	serial := kept.serial
	if !kept.ok || kept.digest != z.Digest {
		serial = nextSerial(kept.serial, time.Now())
	}
	z.SOA.Serial = serial
	return z, serial, nil
}
