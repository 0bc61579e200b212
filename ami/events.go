package ami

import (
	"strconv"
	"strings"
	"time"
)

// eventHandlers apply one kind of event to the collector's state; they run
// with c.mu held and return the dirty key ("" when the event is about
// nothing the cluster configures).
var eventHandlers = map[string]func(c *Collector, m *Message) string{
	"peerstatus":         (*Collector).onPeerStatus,
	"contactstatus":      (*Collector).onContactStatus,
	"extensionstatus":    (*Collector).onExtensionStatus,
	"devicestatechange":  (*Collector).onDeviceState,
	"queuememberstatus":  (*Collector).onQueueMember,
	"queuememberadded":   (*Collector).onQueueMember,
	"queuememberpause":   (*Collector).onQueueMember, // Asterisk 12+
	"queuememberpaused":  (*Collector).onQueueMember, // Asterisk 11
	"queuememberpenalty": (*Collector).onQueueMember,
	"queuememberremoved": (*Collector).onQueueMemberRemoved,
	"messagewaiting":     (*Collector).onMessageWaiting,
	"registry":           (*Collector).onRegistry,
}

// HandleEvent applies one AMI event. It is the Client's event handler and
// never blocks on I/O: the store is written by the flush loop.
func (c *Collector) HandleEvent(m Message) {
	name := strings.ToLower(m.Event())
	switch name {
	case "reload": // a module reload may have changed anything
		c.RequestRefresh()
		return
	case "fullybooted": // Asterisk finished booting after we logged in
		if time.Since(c.ami.State().LoginAt) > 2*time.Second {
			c.RequestRefresh()
		}
		return
	}
	h := eventHandlers[name]
	if h == nil {
		return
	}
	c.mu.Lock()
	key := ""
	if c.ix != nil {
		key = h(c, &m)
	}
	if key == "" {
		c.stats.Ignored++
	} else {
		c.stats.Events++
		c.dirty[key] = true
	}
	c.mu.Unlock()
	if key != "" && c.cfg.Flush == 0 {
		select {
		case c.flushNow <- struct{}{}:
		default:
		}
	}
}

func (c *Collector) extByName(name string) (*extState, string) {
	ext, ok := c.ix.ext(name)
	if !ok {
		return nil, ""
	}
	s := c.exts[ext]
	if s == nil {
		s = &extState{}
		c.exts[ext] = s
	}
	return s, ext
}

func (c *Collector) trunkByName(name string) (*trunkState, string) {
	t, ok := c.ix.trunkName[name]
	if !ok {
		return nil, ""
	}
	s := c.trunks[t]
	if s == nil {
		s = &trunkState{rttMs: -1}
		c.trunks[t] = s
	}
	return s, "trunk:" + t
}

// onPeerStatus: chan_sip "Peer: SIP/5020", PeerStatus Registered,
// Unregistered, Reachable, Lagged, Unreachable, Rejected; Address is
// "ip:port" (chan_sip) or "ip" with a Port header (newer); Time in ms.
// PJSIP sends PeerStatus too (Reachable/Unreachable per endpoint).
func (c *Collector) onPeerStatus(m *Message) string {
	peer := m.Get("Peer")
	tech := strings.ToUpper(deviceTech(peer))
	name := deviceName(peer)
	status := strings.ToLower(m.Get("PeerStatus"))
	ms := atoiDefault(m.Get("Time"), -1)
	if t, key := c.trunkByName(name); t != nil {
		switch status {
		case "registered", "reachable":
			t.reach, t.rttMs = "reachable", ms
		case "lagged":
			t.reach, t.rttMs = "lagged", ms
		case "unreachable":
			t.reach, t.rttMs = "unreachable", -1
		}
		return key
	}
	s, ext := c.extByName(name)
	if s == nil {
		return ""
	}
	if tech == "PJSIP" {
		// PJSIP reports registrations per contact (ContactStatus); its
		// PeerStatus only says whether any contact answers.
		for _, ct := range s.contacts {
			if status == "unreachable" {
				ct.status = "unreachable"
			} else if status == "reachable" && ct.status == "unreachable" {
				ct.status = "reachable"
			}
		}
		return ext
	}
	switch status {
	case "unregistered", "rejected":
		delete(s.contacts, "SIP")
		return ext
	}
	ct := s.sipContact()
	if addr := m.Get("Address"); addr != "" {
		ct.addr, ct.port = uriHostPort(addr)
		if p := m.Get("Port"); p != "" {
			ct.port = p
		}
	}
	switch status {
	case "registered":
		if ct.status == "" {
			ct.status = "unknown"
		}
	case "reachable", "lagged":
		ct.status, ct.rttMs = status, ms
	case "unreachable":
		ct.status, ct.rttMs = "unreachable", -1
	}
	return ext
}

func (s *extState) sipContact() *contact {
	if s.contacts == nil {
		s.contacts = map[string]*contact{}
	}
	ct := s.contacts["SIP"]
	if ct == nil {
		ct = &contact{rttMs: -1}
		s.contacts["SIP"] = ct
	}
	return ct
}

// onContactStatus: PJSIP, one contact: URI, ContactStatus (Created,
// Updated, Reachable, Unreachable, Unknown, NonQualified/Unqualified,
// Removed), AOR, EndpointName, RoundtripUsec; some versions add UserAgent
// and RegExpire.
func (c *Collector) onContactStatus(m *Message) string {
	name := m.First("EndpointName", "Endpoint")
	if name == "" {
		name = m.Get("AOR")
	}
	uri := m.First("URI", "Uri")
	status := strings.ToLower(m.First("ContactStatus", "Status"))
	if t, key := c.trunkByName(name); t != nil {
		switch status {
		case "reachable":
			t.reach, t.rttMs = "reachable", usecToMs(m.Get("RoundtripUsec"))
		case "unreachable":
			t.reach, t.rttMs = "unreachable", -1
		}
		return key
	}
	s, ext := c.extByName(name)
	if s == nil || uri == "" {
		return ""
	}
	if status == "removed" {
		delete(s.contacts, uri)
		return ext
	}
	if s.contacts == nil {
		s.contacts = map[string]*contact{}
	}
	ct := s.contacts[uri]
	if ct == nil {
		ct = &contact{uri: uri, rttMs: -1, status: "unknown"}
		ct.addr, ct.port = uriHostPort(uri)
		s.contacts[uri] = ct
	}
	switch status {
	case "reachable":
		ct.status = "reachable"
		if ms := usecToMs(m.Get("RoundtripUsec")); ms >= 0 {
			ct.rttMs = ms
		}
	case "unreachable":
		ct.status, ct.rttMs = "unreachable", -1
	}
	if ua := m.Get("UserAgent"); ua != "" {
		ct.ua = ua
	}
	if exp := m.First("RegExpire", "ExpirationTime"); exp != "" {
		ct.expiry = int64(atoiDefault(exp, 0))
	}
	return ext
}

func usecToMs(s string) int {
	us, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || us <= 0 {
		return -1
	}
	return int((us + 500) / 1000)
}

// onExtensionStatus: a hint changed: Exten, Context, Status (number),
// StatusText (newer versions).
func (c *Collector) onExtensionStatus(m *Message) string {
	s, ext := c.extByName(m.Get("Exten"))
	if s == nil {
		return ""
	}
	s.extstatus = strings.TrimSpace(m.Get("Status"))
	return ext
}

// onDeviceState: Device "PJSIP/5020", State "NOT_INUSE".
func (c *Collector) onDeviceState(m *Message) string {
	dev := m.Get("Device")
	switch strings.ToUpper(deviceTech(dev)) {
	case "SIP", "PJSIP", "IAX2", "SCCP":
	default:
		return "" // Queue:, Custom:, Local/ states are not a phone's
	}
	s, ext := c.extByName(deviceName(dev))
	if s == nil {
		return ""
	}
	s.devicestate = m.Get("State")
	return ext
}

// memberExt finds the extension of a queue member: its Interface (Asterisk
// 12+) or Location (11), else its StateInterface, else its name.
func (c *Collector) memberExt(m *Message) (*extState, string) {
	for _, k := range []string{"Interface", "Location", "StateInterface", "MemberName", "Name"} {
		if v := m.Get(k); v != "" {
			if s, ext := c.extByName(deviceName(v)); s != nil {
				return s, ext
			}
		}
	}
	return nil, ""
}

// onQueueMember applies a member's state in one queue. Paused and InCall
// are 0/1; the pause reason is PausedReason (13+) or Reason (11).
func (c *Collector) onQueueMember(m *Message) string {
	s, ext := c.memberExt(m)
	q := m.Get("Queue")
	if s == nil || q == "" {
		return ""
	}
	if s.queues == nil {
		s.queues = map[string]*member{}
	}
	mb := s.queues[q]
	if mb == nil {
		mb = &member{}
		s.queues[q] = mb
	}
	if v, ok := m.Lookup("Paused"); ok {
		mb.paused = yes(v)
		mb.reason = m.First("PausedReason", "Reason")
		if !mb.paused {
			mb.reason = ""
		}
	}
	if v, ok := m.Int("Status"); ok {
		mb.status = v
	}
	if v, ok := m.Lookup("InCall"); ok {
		mb.inCall = yes(v)
	}
	return ext
}

func (c *Collector) onQueueMemberRemoved(m *Message) string {
	s, ext := c.memberExt(m)
	if s == nil {
		return ""
	}
	delete(s.queues, m.Get("Queue"))
	return ext
}

// onMessageWaiting: Mailbox "5020@default", Waiting, and New/Old on
// Asterisk 12+. Older versions only say Waiting: the next refresh counts.
func (c *Collector) onMessageWaiting(m *Message) string {
	ext, ok := c.ix.byMailbox[mailboxID(m.Get("Mailbox"))]
	if !ok {
		return ""
	}
	s := c.exts[ext]
	if s == nil {
		return ""
	}
	n, hasNew := m.Lookup("New")
	if !hasNew {
		if !yes(m.Get("Waiting")) {
			s.vmNew = "0"
		}
		c.RequestRefresh()
		return ext
	}
	s.vmNew, s.vmOld = strings.TrimSpace(n), strings.TrimSpace(m.Get("Old"))
	return ext
}

// onRegistry: an outbound registration changed: ChannelType, Username
// (PJSIP: the client URI), Domain (PJSIP: the server URI), Status.
func (c *Collector) onRegistry(m *Message) string {
	t, key := c.registryTrunk(m.Get("Domain"), m.Get("Username"))
	if t == nil {
		return ""
	}
	t.regstatus = strings.ToLower(m.Get("Status"))
	return key
}

// registryTrunk finds the trunk of a registration by its server host,
// then by its user.
func (c *Collector) registryTrunk(server, user string) (*trunkState, string) {
	host, _ := uriHostPort(server)
	if t, key := c.trunkByName(host); t != nil {
		return t, key
	}
	if u, _, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(user, "sips:"), "sip:"), "@"); ok {
		user = u
	}
	return c.trunkByName("user:" + user)
}
