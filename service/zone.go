package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/pbxtopo/pbxtopo/srv"
	"github.com/pbxtopo/pbxtopo/store"
)

// ZoneAPI shows the DNS zone of phone failover (`pbxtopo dns zone`).
type ZoneAPI interface {
	// Zone returns the zone as it would be transferred. domain "" means
	// the agent's own (dns.domain), or voice.example.net offline.
	Zone(ctx context.Context, domain string) (*ZoneView, error)
}

var (
	_ ZoneAPI = (*Service)(nil)
)

// ZoneView is the zone with where it came from.
type ZoneView struct {
	Domain string `json:"domain"`
	Serial uint32 `json:"serial"`
	// Live is true when the zone is the one the agent's DNS server serves,
	// with live health; false when it was built from the store with every
	// cluster up.
	Live    bool                `json:"live"`
	Down    []string            `json:"down"`
	Skipped []srv.Problem       `json:"skipped,omitempty"`
	Health  []srv.ClusterHealth `json:"health,omitempty"`
	// Hold is set while the health view is held (the hold-down rule): the
	// zone is the last good one, not this node's own view.
	Hold    *srv.Hold `json:"hold,omitempty"`
	Records []string  `json:"records"` // SOA first, in master file format
	Text    string    `json:"text"`    // the zone file
}

// DNSServer is what the API shows of the agent's running DNS server
// (*srv.Server is one).
type DNSServer interface {
	Zone() (*srv.Zone, uint32)
}

// HealthStatus tells the health of each cluster (*srv.Checker is one).
type HealthStatus interface {
	Status() []srv.ClusterHealth
}

var (
	_ DNSServer    = (*srv.Server)(nil)
	_ HealthStatus = (*srv.Checker)(nil)
)

// UseDNS makes Zone report the running DNS server's zone (and health,
// when h is not nil) instead of building one. The agent calls it while it
// wires itself, before serving the API.
func (s *Service) UseDNS(d DNSServer, h HealthStatus) {
	s.dns, s.health = d, h
}

// Zone implements ZoneAPI.
func (s *Service) Zone(ctx context.Context, domain string) (*ZoneView, error) {
	if s.dns != nil {
		if z, serial := s.dns.Zone(); z != nil && (domain == "" || dns.CanonicalName(domain) == z.Origin) {
			v := zoneView(z, serial, true)
			if s.health != nil {
				v.Health = s.health.Status()
			}
			if h := s.dnsHold(); h != nil {
				v.Hold = h
				v.Text = strings.Replace(v.Text, "\n", "\n"+holdComment(*h), 1)
			}
			return v, nil
		}
	}
	cfg := srv.DefaultConfig()
	if domain != "" {
		cfg.Domain = domain
	}
	if err := cfg.Validate(); err != nil {
		return nil, &Error{Code: 400, Msg: strings.Replace(err.Error(), "dns.domain", "--domain", 1), Err: err}
	}
	var v *ZoneView
	err := s.st.View(func(sn *store.Snapshot) error {
		z, serial, err := srv.OfflineZone(sn, cfg)
		if err != nil {
			return err
		}
		v = zoneView(z, serial, false)
		return nil
	})
	return v, UserError(err)
}

// dnsHold returns the hold of the health view, nil when it is not held.
func (s *Service) dnsHold() *srv.Hold {
	hs, ok := s.health.(srv.HoldStatus)
	if !ok {
		return nil
	}
	if h := hs.Hold(); h.Active() {
		return &h
	}
	return nil
}

// holdComment says, in zone file comments, that the zone is held.
func holdComment(h srv.Hold) string {
	return fmt.Sprintf("; HELD: this node lost %s (%d of the %d clusters) at once, since %s; it answers from its last good view\n"+
		"; until %s or until its own view recovers (the hold-down rule, dns.hold_down)\n",
		strings.Join(h.Lost, ", "), len(h.Lost), h.Known, h.Since.UTC().Format(time.RFC3339), h.Until.UTC().Format(time.RFC3339))
}

func zoneView(z *srv.Zone, serial uint32, live bool) *ZoneView {
	soa := *z.SOA
	soa.Serial = serial
	v := &ZoneView{Domain: z.Origin, Serial: serial, Live: live, Down: z.Down, Skipped: z.Skipped,
		Records: []string{soa.String()}}
	if v.Down == nil {
		v.Down = []string{}
	}
	for _, rr := range z.Records {
		v.Records = append(v.Records, rr.String())
	}
	v.Text = "$ORIGIN " + z.Origin + "\n" + strings.Join(v.Records, "\n") + "\n"
	return v
}
