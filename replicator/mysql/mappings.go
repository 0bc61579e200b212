package mysql

import (
	"fmt"
	"strings"
	"sync"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// The shipped mappings.
//
//   - guide: the cluster manager guide's 66-field table (§4.0.4), named
//     extensions, one row per extension of every cluster; column names are
//     the pbx field names (call-limit, callbackextension, ...). Status
//     columns (regseconds, ipaddr, useragent, ...) and the id are left to
//     Asterisk and MySQL.
//   - sippeers: Asterisk's chan_sip realtime tables sippeers and voicemail,
//     holding this cluster's extensions only.
//   - pjsip: Asterisk's PJSIP realtime tables ps_endpoints, ps_auths and
//     ps_aors, holding this cluster's extensions only.
var (
	mappingsOnce sync.Once
	mappings     []*Mapping
)

// Mappings returns the shipped mappings.
func Mappings() []*Mapping {
	mappingsOnce.Do(func() {
		mappings = []*Mapping{guideMapping(), sippeersMapping(), pjsipMapping()}
		for _, m := range mappings {
			for _, t := range m.Tables {
				if err := t.check(); err != nil {
					panic("mysql: " + err.Error())
				}
			}
		}
	})
	return mappings
}

// GuideTable is the MySQL table of the guide mapping.
const GuideTable = "extensions"

func guideMapping() *Mapping {
	t := &TableMap{Name: GuideTable, Store: pbx.Extensions, ClusterColumn: "cluster", NumberColumn: "regexten", Primary: true}
	for _, f := range pbx.Extensions.Fields {
		switch {
		case f.Status, f.Name == "id", f.Name == "cluster", f.Name == "regexten", f.Name == "roaming":
			continue
		}
		t.Columns = append(t.Columns, Column{Name: f.Name, Field: f.Name})
	}
	return &Mapping{Name: "guide", Doc: "the guide's 66-field extensions table, every cluster's extensions", Tables: []*TableMap{t}}
}

func sippeersMapping() *Mapping {
	plain := func(names ...string) []Column {
		var out []Column
		for _, n := range names {
			out = append(out, Column{Name: n, Field: n})
		}
		return out
	}
	peers := &TableMap{Name: "sippeers", Store: pbx.Extensions, NumberColumn: "name", Primary: true,
		Set: pbx.Fields{"protocol": "SIP"}}
	peers.Columns = append(plain("defaultuser", "host", "type", "context", "permit", "deny", "secret",
		"md5secret", "dtmfmode", "nat", "callgroup", "pickupgroup", "language", "disallow", "allow",
		"insecure", "accountcode", "callerid", "amaflags", "mailbox", "call-limit", "fromuser", "fromdomain",
		"qualify", "defaultip", "rtptimeout", "rtpholdtimeout", "callbackextension", "encryption",
		"musiconhold"), Column{Name: "directmedia", Field: "canreinvite"})
	vm := &TableMap{Name: "voicemail", Store: pbx.Extensions, NumberColumn: "mailbox", Presence: "mailbox",
		Columns: []Column{
			{Name: "context", MailboxContext: true},
			{Name: "password", Field: "vmsecret"},
		}}
	return &Mapping{Name: "sippeers", Doc: "Asterisk chan_sip realtime: sippeers and voicemail, this cluster's extensions",
		Tables: []*TableMap{peers, vm}}
}

func pjsipMapping() *Mapping {
	ep := &TableMap{Name: "ps_endpoints", Store: pbx.Extensions, NumberColumn: "id", Primary: true,
		Set: pbx.Fields{"protocol": "PJSIP"},
		Columns: []Column{
			{Name: "aors", Const: "$number"},
			{Name: "auth", Const: "$number"},
			{Name: "context", Field: "context"},
			{Name: "disallow", Field: "disallow"},
			{Name: "allow", Field: "allow"},
			{Name: "direct_media", Field: "canreinvite"},
			{Name: "dtmf_mode", Field: "dtmfmode", Values: map[string]string{"rfc4733": "rfc2833"}},
			{Name: "callerid", Field: "callerid"},
			{Name: "mailboxes", Field: "mailbox"},
			{Name: "call_group", Field: "callgroup"},
			{Name: "pickup_group", Field: "pickupgroup"},
			{Name: "language", Field: "language"},
			{Name: "accountcode", Field: "accountcode"},
			{Name: "from_user", Field: "fromuser"},
			{Name: "from_domain", Field: "fromdomain"},
			{Name: "moh_suggest", Field: "musiconhold"},
			{Name: "permit", Field: "permit"},
			{Name: "deny", Field: "deny"},
			{Name: "media_encryption", Field: "encryption", Values: map[string]string{"sdes": "yes"}},
		}}
	auth := &TableMap{Name: "ps_auths", Store: pbx.Extensions, NumberColumn: "id", Presence: "secret",
		Columns: []Column{
			{Name: "auth_type", Const: "userpass"},
			{Name: "username", Field: "authuser", Default: "$number"},
			{Name: "password", Field: "secret"},
		}}
	aor := &TableMap{Name: "ps_aors", Store: pbx.Extensions, NumberColumn: "id",
		Columns: []Column{{Name: "max_contacts", Const: "1"}}}
	return &Mapping{Name: "pjsip", Doc: "Asterisk PJSIP realtime: ps_endpoints, ps_auths, ps_aors, this cluster's extensions",
		Tables: []*TableMap{ep, auth, aor}}
}

// GuideDDL returns the CREATE TABLE statement of the guide's 66-field table
// as the guide mapping expects it: the guide's columns and types, an
// auto-increment id, and the unique key (cluster, regexten) the bridge's
// upserts need.
func GuideDDL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS `%s` (\n", GuideTable)
	for _, f := range pbx.Extensions.Fields {
		switch f.Name {
		case "id":
			b.WriteString("  `id` int(11) NOT NULL AUTO_INCREMENT,\n")
		case "roaming":
		default:
			fmt.Fprintf(&b, "  `%s` %s NULL,\n", f.Name, f.SQL)
		}
	}
	b.WriteString("  PRIMARY KEY (`id`),\n  UNIQUE KEY `cluster_regexten` (`cluster`(63), `regexten`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
	return b.String()
}
