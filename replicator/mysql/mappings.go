package mysql

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// The shipped mappings. Every table but the guide's is Asterisk's own
// (contrib/realtime/mysql/mysql_config.sql of Asterisk 22), as it is.
//
//   - guide: the cluster manager guide's 66-field table (§4.0.4), named
//     pbxtopo_extensions (Asterisk's realtime dialplan table is
//     "extensions"), one row per extension of every cluster; column names
//     are the pbx field names (call-limit, callbackextension, ...). Status
//     columns (regseconds, ipaddr, useragent, ...) and the id are left to
//     Asterisk and MySQL.
//   - pjsip: Asterisk 13+ realtime: ps_endpoints, ps_auths and ps_aors for
//     this cluster's SIP and PJSIP extensions (Asterisk 21+ has no
//     chan_sip: PJSIP serves SIP phones), iaxfriends for its IAX ones,
//     voicemail for their mailboxes.
//   - sippeers: chan_sip realtime (Asterisk up to 20): sippeers for SIP
//     extensions, iaxfriends for IAX ones, voicemail for mailboxes.
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
const GuideTable = "pbxtopo_extensions"

func guideMapping() *Mapping {
	t := &TableMap{Name: GuideTable, Store: pbx.Extensions, ClusterColumn: "cluster", NumberColumn: "regexten", Primary: true}
	for _, f := range pbx.Extensions.Fields {
		switch {
		case f.Status, f.Name == "id", f.Name == "cluster", f.Name == "regexten", f.Name == "roaming":
			continue
		}
		t.Columns = append(t.Columns, Column{Name: f.Name, Field: f.Name})
	}
	return &Mapping{Name: "guide", Doc: "the guide's 66-field table pbxtopo_extensions, every cluster's extensions", Tables: []*TableMap{t}}
}

// Asterisk's yes/no columns take any of these.
var asteriskBool = map[string]string{"1": "yes", "on": "yes", "true": "yes", "0": "no", "off": "no", "false": "no"}

func plain(names ...string) []Column {
	var out []Column
	for _, n := range names {
		out = append(out, Column{Name: n, Field: n})
	}
	return out
}

// voicemailTable is Asterisk's voicemail table: a box per extension
// mailbox, named by the mailbox field (NUMBER@CONTEXT).
func voicemailTable() *TableMap {
	return &TableMap{Name: "voicemail", Store: pbx.Extensions, ByMailbox: true, PresentIf: []string{"mailbox"},
		Columns: []Column{
			{Name: "context", MailboxContext: true},
			{Name: "mailbox", MailboxNumber: true},
			{Name: "password", Field: "vmsecret"},
			{Name: "fullname", Field: "name", Keep: true},
		}}
}

// iaxTable is Asterisk's iaxfriends table, for IAX extensions.
func iaxTable() *TableMap {
	t := &TableMap{Name: "iaxfriends", Store: pbx.Extensions, NumberColumn: "name", Primary: true, Protocols: []string{"IAX2", "IAX"}}
	t.Columns = append(plain("type", "secret", "context", "host", "defaultip", "accountcode", "language", "callerid",
		"disallow", "allow", "amaflags", "mailbox", "qualify", "mask"),
		Column{Name: "username", Field: "defaultuser"},
		Column{Name: "mohsuggest", Field: "musiconhold"},
		Column{Name: "encryption", Field: "encryption", In: asteriskBool})
	return t
}

func sippeersMapping() *Mapping {
	peers := &TableMap{Name: "sippeers", Store: pbx.Extensions, NumberColumn: "name", Primary: true, Protocols: []string{"SIP"}}
	peers.Columns = append(plain("defaultuser", "host", "type", "context", "permit", "deny", "secret",
		"md5secret", "dtmfmode", "nat", "callgroup", "pickupgroup", "language", "disallow", "allow",
		"insecure", "accountcode", "callerid", "amaflags", "mailbox", "call-limit", "fromuser", "fromdomain",
		"qualify", "defaultip", "rtptimeout", "rtpholdtimeout", "callbackextension"),
		Column{Name: "directmedia", Field: "canreinvite", In: asteriskBool},
		Column{Name: "mohsuggest", Field: "musiconhold"})
	return &Mapping{Name: "sippeers", Doc: "Asterisk chan_sip realtime: sippeers, iaxfriends and voicemail, this cluster's extensions",
		Tables: []*TableMap{peers, iaxTable(), voicemailTable()}}
}

var sipProtocols = []string{"PJSIP", "SIP"}

// natOn says whether a nat field turns PJSIP's NAT options on.
func natOn(f pbx.Fields, _ string) string {
	switch f["nat"] {
	case "yes", "route":
		return "yes"
	case "no", "never":
		return "no"
	}
	return ""
}

func pjsipMapping() *Mapping {
	ep := &TableMap{Name: "ps_endpoints", Store: pbx.Extensions, NumberColumn: "id", Primary: true, Protocols: sipProtocols,
		Columns: []Column{
			{Name: "aors", Const: "$number"},
			{Name: "auth", Compute: func(f pbx.Fields, number string) string {
				if f["secret"] != "" || f["md5secret"] != "" {
					return number
				}
				return "" // no credentials: no ps_auths row to point at
			}},
			{Name: "context", Field: "context"},
			{Name: "disallow", Field: "disallow"},
			{Name: "allow", Field: "allow"},
			{Name: "direct_media", Field: "canreinvite", In: asteriskBool},
			{Name: "dtmf_mode", Field: "dtmfmode", In: map[string]string{"rfc4733": "rfc2833"}, Out: map[string]string{"rfc2833": "rfc4733"}},
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
			{Name: "acl", Field: "acl"},
			{Name: "media_encryption", Field: "encryption", In: map[string]string{"sdes": "yes"}, Out: map[string]string{"yes": "sdes"}},
			{Name: "rtp_timeout", Field: "rtptimeout"},
			{Name: "rtp_timeout_hold", Field: "rtpholdtimeout"},
			// nat: chan_sip's one switch is three PJSIP options; force_rport
			// carries it back.
			{Name: "force_rport", Field: "nat", In: asteriskBool, Compute: natOn},
			{Name: "rtp_symmetric", Compute: natOn},
			{Name: "rewrite_contact", Compute: natOn},
		}}
	auth := &TableMap{Name: "ps_auths", Store: pbx.Extensions, NumberColumn: "id", Protocols: sipProtocols, PresentIf: []string{"secret", "md5secret"},
		Columns: []Column{
			{Name: "auth_type", Compute: func(f pbx.Fields, _ string) string {
				if f["secret"] == "" {
					return "md5"
				}
				return "userpass"
			}},
			{Name: "username", Field: "authuser", Default: "$number"},
			{Name: "password", Field: "secret"},
			{Name: "md5_cred", Field: "md5secret"},
		}}
	aor := &TableMap{Name: "ps_aors", Store: pbx.Extensions, NumberColumn: "id", Protocols: sipProtocols,
		Columns: []Column{
			{Name: "max_contacts", Const: "1"},
			// One phone per extension: a phone that moves replaces its old
			// contact instead of being refused until it expires.
			{Name: "remove_existing", Const: "yes"},
			{Name: "qualify_frequency", Field: "qualify", Compute: qualifyFrequency, Read: qualifyOf},
		}}
	return &Mapping{Name: "pjsip", Doc: "Asterisk PJSIP realtime: ps_endpoints, ps_auths, ps_aors, iaxfriends and voicemail, this cluster's extensions",
		Tables: []*TableMap{ep, auth, aor, iaxTable(), voicemailTable()}}
}

// qualifyFrequency is PJSIP's qualify_frequency (seconds) for a qualify
// field: yes or a chan_sip timeout in milliseconds checks every minute.
func qualifyFrequency(f pbx.Fields, _ string) string {
	switch q := f["qualify"]; {
	case q == "":
		return ""
	case q == "no" || q == "0":
		return "0"
	default:
		return "60"
	}
}

// qualifyOf reads qualify_frequency back: 0 is no, any other is yes.
func qualifyOf(v string) string {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	switch {
	case err != nil:
		return v // the model refuses it, naming the column
	case n == 0:
		return "no"
	}
	return "yes"
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
