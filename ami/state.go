package ami

import (
	"maps"
	"sort"
	"strconv"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// index maps Asterisk's names (endpoint and peer names, mailboxes, trunk
// hosts) to the extensions and trunks of the cluster's configuration.
type index struct {
	exts      map[string]bool   // regexten
	byName    map[string]string // endpoint/peer/user name → regexten
	byMailbox map[string]string // "5020@default" → regexten
	mailbox   map[string]string // regexten → its first mailbox
	trunks    map[string]pbx.Fields
	trunkName map[string]string // endpoint name or host → trunk name
}

// loadIndex reads the cluster's extensions and trunks from the store.
func loadIndex(sn *store.Snapshot, cluster string) (*index, error) {
	ix := &index{exts: map[string]bool{}, byName: map[string]string{}, byMailbox: map[string]string{},
		mailbox: map[string]string{}, trunks: map[string]pbx.Fields{}, trunkName: map[string]string{}}
	err := sn.Scan("extensions", cluster+"/", func(key string, value []byte) error {
		f, err := pbx.DecodeFields(value)
		if err != nil {
			return nil // a record this version cannot read is not ours to watch
		}
		ext := f["regexten"]
		if ext == "" {
			ext = key[len(cluster)+1:]
		}
		ix.exts[ext] = true
		for _, n := range []string{f["authuser"], f["defaultuser"]} {
			if n != "" {
				if _, taken := ix.byName[n]; !taken {
					ix.byName[n] = ext
				}
			}
		}
		ix.byName[ext] = ext
		if box := firstMailbox(f["mailbox"]); box != "" {
			ix.byMailbox[box] = ext
			ix.mailbox[ext] = box
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = sn.Scan("trunks", cluster+"/", func(key string, value []byte) error {
		f, err := pbx.DecodeFields(value)
		if err != nil {
			return nil
		}
		name := f["name"]
		if name == "" {
			name = key[len(cluster)+1:]
		}
		ix.trunks[name] = f
		ix.trunkName[name] = name
		if h := f["host"]; h != "" && h != "dynamic" {
			ix.trunkName[h] = name
		}
		if u := f["authuser"]; u != "" {
			ix.trunkName["user:"+u] = name
		}
		return nil
	})
	return ix, err
}

// same reports whether two indexes map the same names.
func (ix *index) same(o *index) bool {
	if !maps.Equal(ix.exts, o.exts) || !maps.Equal(ix.byName, o.byName) || !maps.Equal(ix.byMailbox, o.byMailbox) ||
		!maps.Equal(ix.trunkName, o.trunkName) || len(ix.trunks) != len(o.trunks) {
		return false
	}
	for k, f := range ix.trunks {
		if !f.Equal(o.trunks[k]) {
			return false
		}
	}
	return true
}

// ext returns the extension an Asterisk endpoint or peer name belongs to.
func (ix *index) ext(name string) (string, bool) {
	e, ok := ix.byName[name]
	return e, ok
}

// contact is one address of an extension: registered, or set in
// pjsip.conf (static).
type contact struct {
	uri, addr, port, ua string
	status              string // reachable, unreachable, lagged, unknown
	rttMs               int    // -1 when not measured
	expiry              int64  // unix seconds, 0 unknown
	static              bool   // an AOR's contact = in pjsip.conf, never registered
}

// member is an extension's membership of one queue.
type member struct {
	paused bool
	reason string
	status int
	inCall bool
}

// extState is what the collector knows of one extension.
type extState struct {
	contacts    map[string]*contact // by URI (PJSIP) or "SIP" (chan_sip's one address)
	extstatus   string
	devicestate string
	queues      map[string]*member
	vmNew       string
	vmOld       string
	cfwd        string
	cfwdKnown   bool
}

// trunkState is what the collector knows of one trunk.
type trunkState struct {
	regstatus string // registered, unregistered, rejected, failed, "" (no registration)
	reach     string // reachable, unreachable, lagged, ""
	rttMs     int
	static    bool // reach comes from a contact set in pjsip.conf
}

// fields derives the status columns of an extension.
func (s *extState) fields(node string) pbx.Fields {
	f := pbx.Fields{}
	if best := s.bestContact(); best != nil {
		f["regstatus"] = "registered"
		if best.static {
			f["regstatus"] = "static"
		}
		if best.status == "unreachable" || best.status == "lagged" {
			f["regstatus"] = best.status
		}
		f["ipaddr"], f["port"], f["contact"], f["useragent"] = best.addr, best.port, best.uri, best.ua
		if best.rttMs >= 0 {
			f["lastms"] = strconv.Itoa(best.rttMs)
		}
		if best.expiry > 0 {
			f["regseconds"] = strconv.FormatInt(best.expiry, 10)
		}
		f["regserver"] = node
	} else {
		f["regstatus"] = "unregistered"
	}
	f["extstatus"] = s.extstatus
	f["devicestate"] = s.devicestate
	if len(s.queues) > 0 {
		names := make([]string, 0, len(s.queues))
		var paused []string
		agent, reason := "", ""
		for q, m := range s.queues {
			names = append(names, q)
			st := queueMemberState(m.status, m.inCall, m.paused)
			if m.paused {
				paused = append(paused, q)
				if reason == "" {
					reason = m.reason
				}
			}
			if rank(st) < rank(agent) {
				agent = st
			}
		}
		sort.Strings(names)
		sort.Strings(paused)
		f["queue"] = strings.Join(names, ",")
		f["queuepaused"] = strings.Join(paused, ",")
		f["agentstatus"] = agent
		if agent == "paused" {
			f["pausereason"] = reason
		}
	}
	f["vmunread"], f["vmold"] = s.vmNew, s.vmOld
	if s.cfwdKnown {
		f["cfwdset"] = "no"
		if s.cfwd != "" {
			f["cfwdset"], f["cfwdto"] = "yes", s.cfwd
		}
	}
	return f.Compact()
}

// rank orders agent states: the state shown is the most telling one over
// all the queues of an agent.
func rank(s string) int {
	switch s {
	case "oncall":
		return 0
	case "ringing":
		return 1
	case "available":
		return 2
	case "paused":
		return 3
	case "unavailable":
		return 4
	}
	return 9
}

// bestContact is the contact shown: a reachable one first, then the one
// that expires last.
func (s *extState) bestContact() *contact {
	var best *contact
	for _, c := range s.contacts {
		if best == nil || better(c, best) {
			best = c
		}
	}
	return best
}

func better(a, b *contact) bool {
	ar, br := a.status != "unreachable", b.status != "unreachable"
	if ar != br {
		return ar
	}
	if a.expiry != b.expiry {
		return a.expiry > b.expiry
	}
	return a.uri < b.uri
}

// fields derives the status columns of a trunk.
func (t *trunkState) fields(cfg pbx.Fields) pbx.Fields {
	f := pbx.Fields{"regstatus": t.regstatus, "reachable": t.reach, "host": cfg["host"], "protocol": cfg["protocol"]}
	if t.rttMs >= 0 && t.reach != "" && t.reach != "unreachable" {
		f["lastms"] = strconv.Itoa(t.rttMs)
	}
	f["state"] = trunkAvailability(yes(cfg["register"]), t.regstatus, t.reach)
	return f.Compact()
}

// trunkAvailability says whether a trunk can carry calls: a registering
// trunk must be registered; any trunk must not be unreachable.
func trunkAvailability(registers bool, regstatus, reach string) string {
	switch {
	case reach == "unreachable":
		return "unavailable"
	case registers && regstatus == "registered":
		return "available"
	case registers && regstatus != "":
		return "unavailable"
	case registers:
		return "unknown"
	case reach == "reachable" || reach == "lagged":
		return "available"
	}
	return "unknown"
}
