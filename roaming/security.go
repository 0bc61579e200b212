package roaming

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// maxRecords bounds the records one finding lists; the summary gives the
// full count.
const maxRecords = 50

// securityFindings applies the security rules of the seed documents.
func (e *Enterprise) securityFindings(cfg Config, status TrunkStatus) []Finding {
	var out []Finding
	out = append(out, e.extensionFindings(cfg)...)
	out = append(out, e.aclFindings()...)
	out = append(out, e.trunkFindings(cfg, status)...)
	out = append(out, e.pickupFindings()...)
	out = append(out, e.hotDeskFindings(cfg)...)
	return out
}

func (e *Enterprise) extensionFindings(cfg Config) []Finding {
	known := map[string]bool{}
	for _, g := range e.Groups {
		for _, c := range g.Contexts {
			known[c] = true
		}
	}
	var out []Finding
	for i := range e.Extensions {
		x := &e.Extensions[i]
		if x.WeakSecret == "" && x.WeakPIN == "" && x.ACL != "" && x.Permit == "" && (len(known) == 0 || known[x.Context]) {
			continue // the common case, without building names
		}
		rec := "extensions/" + x.Key()
		who := x.Key()
		if x.Name != "" {
			who += " (" + x.Name + ")"
		}
		if x.WeakSecret != "" {
			out = append(out, newFinding(RuleWeakSecret, []string{x.Cluster, x.Number},
				fmt.Sprintf("%s: the SIP secret is %s", who, x.WeakSecret),
				fmt.Sprintf("set a random secret of at least %d characters (pbxtopo ext set %s secret=...)", max(cfg.MinSecretLength, 12), x.Key()), rec))
		}
		if x.WeakPIN != "" {
			out = append(out, newFinding(RuleWeakPIN, []string{x.Cluster, x.Number},
				fmt.Sprintf("%s: the voicemail PIN is %s", who, x.WeakPIN),
				fmt.Sprintf("set a random PIN of at least %d digits and ask the user to change it at first login (pbxtopo ext set %s vmsecret=...)", max(cfg.MinPINLength, 6), x.Key()), rec))
		}
		if x.ACL == "" && x.Permit == "" {
			out = append(out, newFinding(RuleNoACL, []string{x.Cluster, x.Number},
				fmt.Sprintf("%s has neither acl nor permit", who),
				fmt.Sprintf("give it the access list of its phones' networks (pbxtopo ext set %s acl=internal_phones)", x.Key()), rec))
		}
		if x.Permit != "" {
			nets, _ := pbx.ParseNetworks(x.Permit)
			for _, n := range nets {
				if n.PermitsAll() {
					f := newFinding(RuleACLOpen, []string{x.Cluster, x.Number},
						fmt.Sprintf("%s: permit holds %s", who, n.Text),
						fmt.Sprintf("permit only the phone's networks (pbxtopo ext set %s permit=10.10.10.0/24)", x.Key()), rec)
					out = append(out, f)
					break
				}
			}
		}
		if len(known) > 0 && !known[x.Context] {
			summary := fmt.Sprintf("%s uses context %q, which no group lists", who, x.Context)
			if x.Context == "" {
				summary = who + " has no context: its calls run in the channel driver's general context"
			} else if x.Context == "default" {
				summary += " ('default' is where unauthenticated guest calls land)"
			}
			fix := "use a context of its group"
			if g := e.Groups[x.Group]; g != nil && len(g.Contexts) > 0 {
				fix = fmt.Sprintf("use a context of group %s (pbxtopo ext set %s context=%s), or add the context to a group's contexts", g.Name, x.Key(), g.Contexts[0])
			}
			out = append(out, newFinding(RuleUnknownContext, []string{x.Cluster, x.Number}, summary, fix, rec))
		}
	}
	return out
}

// aclUsers returns, per ACL name, the records that use it.
func (e *Enterprise) aclUsers() map[string][]string {
	users := map[string][]string{}
	split := map[string][]string{} // the acl values repeat: split each once
	add := func(list, rec string) {
		names, ok := split[list]
		if !ok {
			names = pbx.List(list)
			split[list] = names
		}
		for _, n := range names {
			users[n] = append(users[n], rec)
		}
	}
	for i := range e.Extensions {
		if x := &e.Extensions[i]; x.ACL != "" {
			add(x.ACL, "extensions/"+x.Key())
		}
	}
	for _, t := range e.Trunks {
		if t.ACL != "" {
			add(t.ACL, "trunks/"+t.Cluster+"/"+t.Name)
		}
	}
	return users
}

func (e *Enterprise) aclFindings() []Finding {
	users := e.aclUsers()
	var out []Finding
	for _, name := range sortedKeys(e.ACLs) {
		a := e.ACLs[name]
		used := users[name]
		rec := append([]string{"acls/" + name}, capRecords(used)...)
		usedBy := "no extension or trunk uses it"
		if len(used) > 0 {
			usedBy = fmt.Sprintf("used by %d records", len(used))
		}
		for _, n := range a.Networks {
			if n.PermitsAll() {
				f := newFinding(RuleACLOpen, []string{name},
					fmt.Sprintf("acl %s holds %s (%s)", name, n.Text, usedBy),
					fmt.Sprintf("remove %s and list the networks that need access (pbxtopo import --table acls)", n.Text), rec...)
				if len(used) == 0 {
					f.Severity = Warning
				}
				out = append(out, f)
				break
			}
		}
		if len(a.Networks) == 0 && a.Invalid == "" && len(used) > 0 {
			out = append(out, newFinding(RuleACLEmpty, []string{name},
				fmt.Sprintf("acl %s lists no network and is %s", name, usedBy),
				"add the networks that need access, or point its users at another acl", rec...))
		}
	}
	return out
}

// ipProtocols carry calls over IP; DAHDI cards and DUNDi lookups do not
// register, authenticate or need a host.
var ipProtocols = map[string]bool{"SIP": true, "PJSIP": true, "IAX": true, "IAX2": true}

func (e *Enterprise) trunkFindings(cfg Config, status TrunkStatus) []Finding {
	voice := map[string]string{} // address → cluster
	for _, c := range e.Clusters {
		voice[c.VoiceVIP] = c.Name
		for _, s := range c.VoiceServers {
			voice[s] = c.Name
		}
	}
	var out []Finding
	for _, t := range e.Trunks {
		if !ipProtocols[strings.ToUpper(t.Protocol)] {
			continue
		}
		key := t.Cluster + "/" + t.Name
		rec := "trunks/" + key
		subject := []string{t.Cluster, t.Name}
		if t.WeakSecret != "" {
			out = append(out, newFinding(RuleTrunkWeakSecret, subject,
				fmt.Sprintf("trunk %s: the secret is %s", key, t.WeakSecret),
				"ask the provider (or the other site) for a long random secret and set it on both ends", rec))
		}
		switch {
		case t.Host == "":
			out = append(out, newFinding(RuleTrunkOrphan, subject,
				fmt.Sprintf("trunk %s (%s) has no host: no provider is behind it", key, t.Protocol),
				fmt.Sprintf("remove the trunk if nothing uses it (DELETE /v1/tables/trunks/%s), or give it its provider's host", key), rec))
		case t.Register && status != nil:
			if reg, known := status.TrunkRegistered(t.Cluster, t.Name); known && !reg {
				f := newFinding(RuleTrunkOrphan, subject,
					fmt.Sprintf("trunk %s should register with %s but has never registered", key, t.Host),
					"fix its credentials with the provider, or remove it if the account is gone", rec)
				f.Severity = Warning
				out = append(out, f)
			}
		}
		if t.ACL == "" {
			out = append(out, newFinding(RuleTrunkNoACL, subject,
				fmt.Sprintf("trunk %s has no acl", key),
				"give it an acl with the provider's signalling addresses only", rec))
		}
		peer, toCluster := voice[t.Host]
		interSite := t.Group == cfg.InterSiteGroup && cfg.InterSiteGroup != "" || toCluster
		if interSite && !t.Encryption {
			to := t.Host
			if toCluster {
				to = "cluster " + peer
			}
			out = append(out, newFinding(RuleTrunkClear, subject,
				fmt.Sprintf("inter-site trunk %s to %s has encryption=no", key, to),
				fmt.Sprintf("set encryption=yes on both ends of the link (trunk %s and its peer)", key), rec))
		}
	}
	return out
}

// pickupFindings finds call group numbers that join extensions of
// different groups on one cluster: pickup works inside one Asterisk, so
// members of one call group can answer each other's calls.
func (e *Enterprise) pickupFindings() []Finding {
	type member struct {
		groups  map[string][]string // astgroup → records (capped)
		count   int
		tenants map[string]bool
	}
	type slot struct {
		cluster string
		num     int
	}
	parsed := map[string][]int{}
	groupsOf := func(v string) []int {
		g, ok := parsed[v]
		if !ok {
			g = pbx.CallGroupSet(v)
			parsed[v] = g
		}
		return g
	}
	slots := map[slot]*member{}
	for i := range e.Extensions {
		x := &e.Extensions[i]
		if x.Group == "" || x.CallGroup == "" && x.PickupGroup == "" {
			continue
		}
		cg, pg := groupsOf(x.CallGroup), groupsOf(x.PickupGroup)
		for i, g := range slices.Concat(cg, pg) {
			if i >= len(cg) && slices.Contains(cg, g) {
				continue // in both lists: one membership
			}
			m := slots[slot{x.Cluster, g}]
			if m == nil {
				m = &member{groups: map[string][]string{}, tenants: map[string]bool{}}
				slots[slot{x.Cluster, g}] = m
			}
			m.count++
			if len(m.groups[x.Group]) < maxRecords {
				m.groups[x.Group] = append(m.groups[x.Group], "extensions/"+x.Key())
			} else if _, ok := m.groups[x.Group]; !ok {
				m.groups[x.Group] = nil
			}
			if g := e.Groups[x.Group]; g != nil && g.Tenant != "" {
				m.tenants[g.Tenant] = true
			}
		}
	}
	keys := make([]slot, 0, len(slots))
	for k, m := range slots {
		if len(m.groups) > 1 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].cluster != keys[j].cluster {
			return keys[i].cluster < keys[j].cluster
		}
		return keys[i].num < keys[j].num
	})
	var out []Finding
	for _, k := range keys {
		m := slots[k]
		names := sortedKeys(m.groups)
		var parts, recs []string
		for _, g := range names {
			parts = append(parts, fmt.Sprintf("%s (%s)", g, strings.Join(trimPrefixes(m.groups[g], 3), ", ")))
			recs = append(recs, m.groups[g]...)
		}
		f := newFinding(RuleSharedPickup, []string{k.cluster, strconv.Itoa(k.num)},
			fmt.Sprintf("call/pickup group %d on %s joins %d extensions of groups %s", k.num, k.cluster, m.count, strings.Join(parts, ", ")),
			"give each group its own call and pickup group numbers (the callgroup and pickupgroup of the group profile)",
			capRecords(recs)...)
		if len(m.tenants) > 1 {
			f.Severity = Critical
			f.Summary += fmt.Sprintf("; they belong to %d tenants: %s", len(m.tenants), strings.Join(sortedKeys(m.tenants), ", "))
		}
		out = append(out, f)
	}
	return out
}

func (e *Enterprise) hotDeskFindings(cfg Config) []Finding {
	if len(e.HotDesks) == 0 {
		return nil
	}
	phones := map[string]*Extension{}
	for _, h := range e.HotDesks {
		phones[h.Cluster+"/"+h.Extension] = nil
	}
	for i := range e.Extensions {
		x := &e.Extensions[i]
		if _, ok := phones[x.Key()]; ok {
			phones[x.Key()] = x
		}
	}
	var out []Finding
	for _, h := range e.HotDesks {
		allowed := cfg.HotDeskContexts
		if len(allowed) == 0 {
			if g := e.Groups[h.Group]; g != nil {
				allowed = g.Contexts
			}
		}
		if len(allowed) == 0 {
			continue // nothing says what a hot desk may do
		}
		key := h.Cluster + "/" + h.Extension
		var bad []string
		recs := []string{"hotdesks/" + key}
		if h.Context != "" && !contains(allowed, h.Context) {
			bad = append(bad, fmt.Sprintf("the hot desk's context is %q", h.Context))
		}
		if x := phones[key]; x != nil {
			recs = append(recs, "extensions/"+key)
			if !contains(allowed, x.Context) {
				bad = append(bad, fmt.Sprintf("its extension's context is %q", x.Context))
			}
		}
		if len(bad) == 0 {
			continue
		}
		out = append(out, newFinding(RuleHotDeskContext, []string{h.Cluster, h.Extension},
			fmt.Sprintf("hot desk %s: %s, not one of %s", key, strings.Join(bad, " and "), strings.Join(allowed, ", ")),
			fmt.Sprintf("give the phone a local-and-emergency context (pbxtopo ext set %s context=%s); users get their rights by logging in", key, allowed[0]),
			recs...))
	}
	return out
}

func capRecords(recs []string) []string {
	if len(recs) > maxRecords {
		return recs[:maxRecords]
	}
	return recs
}

// trimPrefixes shows at most n records as keys without their table.
func trimPrefixes(recs []string, n int) []string {
	var out []string
	for i, r := range recs {
		if i == n {
			out = append(out, "...")
			break
		}
		_, key, _ := strings.Cut(r, "/")
		out = append(out, key)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
