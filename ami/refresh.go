package ami

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Refresh reads everything anew by actions: registrations (PJSIP and
// chan_sip, whichever this Asterisk has), extension states, queue members,
// voicemail counts, call forwards and trunk registrations. Each part
// replaces what the collector knew of it; a part Asterisk refuses is
// logged once and skipped. It returns the first hard failure (the
// connection lost, a timeout).
func (c *Collector) Refresh(ctx context.Context) error {
	if err := c.loadIndex(); err != nil {
		return err
	}
	var errs []error
	for _, step := range []func(context.Context) error{
		c.refreshPJSIPContacts, c.refreshSIPPeers, c.refreshExtensionStates, c.refreshQueues,
		c.refreshMailboxes, c.refreshCallForwards, c.refreshTrunkRegistrations,
	} {
		if err := step(ctx); err != nil {
			errs = append(errs, err)
			if errors.Is(err, ErrClosed) || errors.Is(err, ErrNotConnected) || ctx.Err() != nil {
				break
			}
		}
	}
	c.mu.Lock()
	c.stats.Refreshes++
	c.health.refreshed = c.now()
	c.mu.Unlock()
	return errors.Join(errs...)
}

// list sends an action and returns its list items.
func (c *Collector) list(ctx context.Context, a Action) ([]Message, bool, error) {
	resp, ok, err := c.ask(ctx, a)
	if !ok {
		return nil, false, err
	}
	return resp.Events, true, nil
}

// ask sends an action and returns its answer. A missing action
// (module not loaded, other channel driver) returns (nil, false, nil); a
// refused one is logged once with the manager.conf hint.
func (c *Collector) ask(ctx context.Context, a Action) (*Response, bool, error) {
	name := a.Get("Action")
	c.mu.Lock()
	missing := c.techs[name]
	c.mu.Unlock()
	if missing {
		return nil, false, nil
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.ActionTimeout)
	defer cancel()
	resp, err := c.ami.Send(actx, a)
	var ae *ActionError
	if errors.As(err, &ae) {
		msg := strings.ToLower(ae.Message)
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case strings.Contains(msg, "unknown command") || strings.Contains(msg, "invalid/unknown"):
			c.techs[name] = true
			return nil, false, nil
		case strings.Contains(msg, "permission denied"):
			if !c.warned[name] {
				c.warned[name] = true
				c.log.Error("Asterisk refused an AMI action the collector needs; give the manager.conf user write = system,reporting",
					"action", name, "answer", ae.Message)
			}
			return nil, false, nil
		}
		return nil, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return resp, true, nil
}

// items keeps the list items of one event name (the closing event is not
// an item).
func items(evs []Message, name string) []Message {
	out := evs[:0:0]
	for _, e := range evs {
		if strings.EqualFold(e.Event(), name) {
			out = append(out, e)
		}
	}
	return out
}

// refreshPJSIPContacts reads every PJSIP contact: the registered ones
// (PJSIPShowContacts) and those set in pjsip.conf, which Asterisk lists
// only per endpoint (PJSIPShowEndpoints names them, PJSIPShowEndpoint
// gives their qualify status). Everything is read before the state is
// replaced, so a flush never sees a phone without its contact.
func (c *Collector) refreshPJSIPContacts(ctx context.Context) error {
	evs, ok, err := c.list(ctx, Action{Message: NewAction("PJSIPShowContacts")})
	if noneFound(err) { // Asterisk 22 when no phone registered
		ok, err = true, nil
	}
	if err != nil || !ok {
		return err
	}
	registered := items(evs, "ContactList")
	static, err := c.staticContacts(ctx, registered)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for ext, s := range c.exts {
		for uri := range s.contacts {
			if uri != "SIP" {
				delete(s.contacts, uri)
				c.dirty[ext] = true
			}
		}
	}
	for _, t := range c.trunks {
		if t.static {
			t.reach, t.rttMs, t.static = "", -1, false
		}
	}
	for _, e := range registered {
		name := e.First("Endpoint", "EndpointName")
		if name == "" {
			name, _, _ = strings.Cut(e.Get("ObjectName"), ";@")
		}
		uri := e.First("Uri", "URI")
		status := strings.ToLower(e.Get("Status"))
		if status == "unavailable" {
			status = "unreachable"
		}
		if t, key := c.trunkByName(name); t != nil {
			if status == "reachable" || status == "unreachable" {
				t.reach, t.rttMs = status, usecToMs(e.Get("RoundtripUsec"))
				c.dirty[key] = true
			}
			continue
		}
		s, ext := c.extByName(name)
		if s == nil || uri == "" {
			continue
		}
		if s.contacts == nil {
			s.contacts = map[string]*contact{}
		}
		ct := &contact{uri: uri, ua: e.Get("UserAgent"), status: "unknown", rttMs: -1}
		ct.addr, ct.port = uriHostPort(uri)
		if via := e.Get("ViaAddr"); via != "" {
			ct.addr, ct.port = via, e.Get("ViaPort")
		}
		if status == "reachable" || status == "unreachable" {
			ct.status = status
		}
		if status == "reachable" {
			ct.rttMs = usecToMs(e.Get("RoundtripUsec"))
		}
		ct.expiry = int64(atoiDefault(e.First("ExpirationTime", "RegExpire"), 0))
		s.contacts[uri] = ct
		c.dirty[ext] = true
	}
	for _, e := range static {
		name, uri := e.Get("EndpointName"), e.Get("URI")
		status, ms := strings.ToLower(e.Get("Status")), -1
		switch status {
		case "reachable":
			ms = usecToMs(e.Get("RoundtripUsec"))
		case "unreachable":
		default: // NonQualified, Unknown: not qualified, nothing known
			status = "unknown"
		}
		if t, key := c.trunkByName(name); t != nil {
			if status != "unknown" && t.reach == "" {
				t.reach, t.rttMs, t.static = status, ms, true
			}
			c.dirty[key] = true
			continue
		}
		s, ext := c.extByName(name)
		if s == nil || uri == "" {
			continue
		}
		if s.contacts == nil {
			s.contacts = map[string]*contact{}
		}
		ct := &contact{uri: uri, status: status, rttMs: ms, static: true}
		ct.addr, ct.port = uriHostPort(uri)
		s.contacts[uri] = ct
		c.dirty[ext] = true
	}
	return nil
}

// noneFound: Asterisk answered a list action with an error that says the
// list is empty ("No Contacts found", "No endpoints found").
func noneFound(err error) bool {
	var ae *ActionError
	if !errors.As(err, &ae) {
		return false
	}
	m := strings.ToLower(ae.Message)
	return strings.HasPrefix(m, "no ") && strings.Contains(m, "found")
}

// staticContacts returns the ContactStatusDetail of every contact set in
// pjsip.conf for the cluster's extensions and trunks: the endpoints
// whose contacts PJSIPShowEndpoints lists but PJSIPShowContacts does not
// are asked one by one.
func (c *Collector) staticContacts(ctx context.Context, registered []Message) ([]Message, error) {
	evs, ok, err := c.list(ctx, Action{Message: NewAction("PJSIPShowEndpoints")})
	if noneFound(err) {
		return nil, nil
	}
	if err != nil || !ok {
		return nil, err
	}
	dynamic := map[string]bool{}
	for _, e := range registered {
		dynamic[e.First("Uri", "URI")] = true
	}
	var names []string
	c.mu.Lock()
	for _, e := range items(evs, "EndpointList") {
		name := e.Get("ObjectName")
		if _, ours := c.ix.ext(name); !ours && c.ix.trunkName[name] == "" {
			continue
		}
		for _, aorURI := range strings.Split(e.Get("Contacts"), ",") {
			_, uri, _ := strings.Cut(strings.TrimSpace(aorURI), "/")
			if uri != "" && !dynamic[uri] {
				names = append(names, name)
				break
			}
		}
	}
	c.mu.Unlock()
	var mu sync.Mutex
	var out []Message
	err = c.each(ctx, names, func(ctx context.Context, name string) error {
		evs, ok, err := c.list(ctx, Action{Message: NewAction("PJSIPShowEndpoint", "Endpoint", name)})
		if err != nil || !ok {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, d := range items(evs, "ContactStatusDetail") {
			if !dynamic[d.Get("URI")] {
				if d.Get("EndpointName") == "" {
					d.Set("EndpointName", name)
				}
				out = append(out, d)
			}
		}
		return nil
	})
	return out, err
}

func (c *Collector) refreshSIPPeers(ctx context.Context) error {
	evs, ok, err := c.list(ctx, Action{Message: NewAction("SIPpeers")})
	if err != nil || !ok {
		return err
	}
	var registered []string
	c.mu.Lock()
	for _, e := range items(evs, "PeerEntry") {
		name := e.Get("ObjectName")
		addr := e.Get("IPaddress")
		status, ms := sipPeerStatus(e.Get("Status"))
		if t, key := c.trunkByName(name); t != nil {
			t.reach, t.rttMs = status, ms
			if status == "unknown" {
				t.reach = ""
			}
			c.dirty[key] = true
			continue
		}
		s, ext := c.extByName(name)
		if s == nil {
			continue
		}
		c.dirty[ext] = true
		if addr == "" || addr == "-none-" || addr == "(null)" {
			delete(s.contacts, "SIP")
			continue
		}
		ct := s.sipContact()
		ct.addr, ct.port, ct.status, ct.rttMs = addr, e.Get("IPport"), status, ms
		registered = append(registered, name)
	}
	c.mu.Unlock()
	// Only SIPshowpeer tells the user agent and the expiry.
	return c.each(ctx, registered, func(ctx context.Context, name string) error {
		actx, cancel := context.WithTimeout(ctx, c.cfg.ActionTimeout)
		defer cancel()
		resp, err := c.ami.Send(actx, Action{Message: NewAction("SIPshowpeer", "Peer", name)})
		if err != nil {
			var ae *ActionError
			if errors.As(err, &ae) {
				return nil
			}
			return err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		s, ext := c.extByName(name)
		if s == nil || s.contacts["SIP"] == nil {
			return nil
		}
		ct := s.contacts["SIP"]
		ct.ua = resp.Get("SIP-Useragent")
		ct.uri = resp.Get("Reg-Contact")
		if secs := atoiDefault(strings.TrimSuffix(resp.Get("RegExpire"), " seconds"), 0); secs > 0 {
			ct.expiry = c.now().Add(time.Duration(secs) * time.Second).Unix()
		}
		c.dirty[ext] = true
		return nil
	})
}

func (c *Collector) refreshExtensionStates(ctx context.Context) error {
	evs, ok, err := c.list(ctx, Action{Message: NewAction("ExtensionStateList")})
	if err != nil || !ok {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range items(evs, "ExtensionStatus") {
		if key := c.onExtensionStatus(&e); key != "" {
			c.dirty[key] = true
		}
	}
	return nil
}

func (c *Collector) refreshQueues(ctx context.Context) error {
	evs, ok, err := c.list(ctx, Action{Message: NewAction("QueueStatus")})
	if err != nil || !ok {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for ext, s := range c.exts {
		if len(s.queues) > 0 {
			s.queues = nil
			c.dirty[ext] = true
		}
	}
	for _, e := range items(evs, "QueueMember") {
		if key := c.onQueueMember(&e); key != "" {
			c.dirty[key] = true
		}
	}
	return nil
}

func (c *Collector) refreshMailboxes(ctx context.Context) error {
	c.mu.Lock()
	boxes := make([]string, 0, len(c.ix.mailbox))
	for ext := range c.ix.mailbox {
		boxes = append(boxes, ext)
	}
	c.mu.Unlock()
	sort.Strings(boxes)
	return c.each(ctx, boxes, func(ctx context.Context, ext string) error {
		c.mu.Lock()
		box := c.ix.mailbox[ext]
		c.mu.Unlock()
		resp, ok, err := c.ask(ctx, Action{Message: NewAction("MailboxCount", "Mailbox", box)})
		if err != nil || !ok {
			return err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if s := c.exts[ext]; s != nil {
			s.vmNew, s.vmOld = resp.Get("NewMessages"), resp.Get("OldMessages")
			c.dirty[ext] = true
		}
		return nil
	})
}

func (c *Collector) refreshCallForwards(ctx context.Context) error {
	if c.cfg.CallForwardFamily == "" {
		return nil
	}
	c.mu.Lock()
	exts := make([]string, 0, len(c.exts))
	for ext := range c.ix.exts {
		exts = append(exts, ext)
	}
	c.mu.Unlock()
	sort.Strings(exts)
	return c.each(ctx, exts, func(ctx context.Context, ext string) error {
		a := Action{Message: NewAction("DBGet", "Family", c.cfg.CallForwardFamily, "Key", ext), ListEnd: []string{"DBGetResponse"}}
		actx, cancel := context.WithTimeout(ctx, c.cfg.ActionTimeout)
		defer cancel()
		resp, err := c.ami.Send(actx, a)
		val, known := "", true
		var ae *ActionError
		switch {
		case errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.Message), "not found"):
		case errors.As(err, &ae):
			known = false
			c.mu.Lock()
			if !c.warned["DBGet"] {
				c.warned["DBGet"] = true
				c.log.Error("Asterisk refused DBGet; call forward stays unknown (manager.conf write = system,reporting)", "answer", ae.Message)
			}
			c.mu.Unlock()
		case err != nil:
			return err
		default:
			for _, e := range items(resp.Events, "DBGetResponse") {
				val = e.First("Val", "Value")
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if s := c.exts[ext]; s != nil && known {
			s.cfwd, s.cfwdKnown = strings.TrimSpace(val), true
			c.dirty[ext] = true
		}
		return nil
	})
}

func (c *Collector) refreshTrunkRegistrations(ctx context.Context) error {
	evs, ok, err := c.list(ctx, Action{Message: NewAction("PJSIPShowRegistrationsOutbound")})
	if err != nil {
		return err
	}
	if ok {
		c.mu.Lock()
		for _, e := range items(evs, "OutboundRegistrationDetail") {
			t, key := c.trunkByName(e.Get("ObjectName"))
			if t == nil {
				t, key = c.registryTrunk(e.Get("ServerUri"), e.Get("ClientUri"))
			}
			if t != nil {
				t.regstatus = strings.ToLower(e.Get("Status"))
				c.dirty[key] = true
			}
		}
		c.mu.Unlock()
	}
	evs, ok, err = c.list(ctx, Action{Message: NewAction("SIPshowregistry")})
	if err != nil || !ok {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range items(evs, "RegistryEntry") {
		if t, key := c.registryTrunk(e.Get("Host"), e.Get("Username")); t != nil {
			t.regstatus = strings.ToLower(e.Get("State"))
			if t.regstatus == "request sent" || t.regstatus == "unregistered" {
				t.regstatus = "unregistered"
			}
			c.dirty[key] = true
		}
	}
	return nil
}

// each runs fn for every name with Concurrency workers; it stops at the
// first error.
func (c *Collector) each(ctx context.Context, names []string, fn func(context.Context, string) error) error {
	if len(names) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan string)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	n := max(1, min(c.cfg.Concurrency, len(names)))
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				if err := fn(ctx, name); err != nil {
					once.Do(func() { first = fmt.Errorf("%s: %w", name, err); cancel() })
				}
			}
		}()
	}
	for _, name := range names {
		select {
		case work <- name:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	return first
}
