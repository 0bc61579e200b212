package pbx

// The tables of the model. Column names and sizes follow the cluster
// manager guide: §4.0.4 for extensions (its 66 fields, plus roaming), §3.0.4
// for trunks, §3.0.6 for access lists, §3.0.2 for business hours, §4.0.3 for
// hot desks, §2.0.1 for clusters.

var yesNo = []string{"yes", "no"}

// Extensions is the guide's 66-field extension table plus roaming.
var Extensions = register(&Table{
	Name: "extensions",
	Noun: "extension",
	Key:  []string{"cluster", "regexten"},
	Fields: []FieldSpec{
		{Name: "id", SQL: "int(11)", Max: 11, Kind: Integer, Note: "index"},
		{Name: "site", SQL: "text", Max: 63, Kind: Label, Note: "Site within the enterprise"},
		{Name: "astgroup", SQL: "text", Max: 64, Kind: Ident, Note: "Agent or extension group"},
		{Name: "cluster", SQL: "text", Max: 63, Kind: Label, Required: true, Note: "Cluster name"},
		{Name: "name", SQL: "varchar(80)", Max: 80, Kind: Text, Note: "User or extension name"},
		{Name: "callerid", SQL: "varchar(80)", Max: 80, Kind: CallerID, Note: "Caller ID"},
		{Name: "defaultuser", SQL: "varchar(80)", Max: 80, Kind: Text, Note: "Asterisk variable"},
		{Name: "regexten", SQL: "varchar(80)", Max: 80, Kind: DialString, Required: true, Note: "Extension Number"},
		{Name: "authuser", SQL: "varchar(22)", Max: 22, Kind: Text, Note: "Asterisk variable"},
		{Name: "secret", SQL: "varchar(80)", Max: 80, Kind: Text, Secret: true, Note: "Extension password"},
		{Name: "mailbox", SQL: "varchar(50)", Max: 50, Kind: Mailbox, Note: "Voicemail box number"},
		{Name: "vmsecret", SQL: "varchar(22)", Max: 22, Kind: DialString, Secret: true, Note: "Voicemail password"},
		{Name: "accountcode", SQL: "varchar(20)", Max: 20, Kind: Text, Note: "Reporting account reference"},
		{Name: "context", SQL: "varchar(80)", Max: 80, Kind: Ident, Note: "Asterisk privilege group"},
		{Name: "amaflags", SQL: "varchar(7)", Max: 7, Kind: Enum, Enum: []string{"default", "omit", "billing", "documentation"}, Note: "Ama CDR flags"},
		{Name: "callgroup", SQL: "varchar(10)", Max: 10, Kind: CallGroups, Note: "Inbound call group #"},
		{Name: "canreinvite", SQL: "char(3)", Max: 3, Kind: Enum, Enum: yesNo, Note: "Direct media flag"},
		{Name: "defaultip", SQL: "varchar(15)", Max: 15, Kind: IP, Note: "Default ip address"},
		{Name: "dtmfmode", SQL: "varchar(7)", Max: 7, Kind: Enum, Enum: []string{"rfc2833", "info", "inband", "auto"}, Default: "rfc2833", Note: "Defaults to RFC2833"},
		{Name: "fromuser", SQL: "varchar(80)", Max: 80, Kind: Text, Note: "Asterisk variable"},
		{Name: "fromdomain", SQL: "varchar(80)", Max: 80, Kind: Host, Note: "Asterisk variable"},
		{Name: "fullcontact", SQL: "varchar(80)", Max: 80, Kind: Text, Note: "User Name for reports"},
		{Name: "host", SQL: "varchar(31)", Max: 31, Kind: Host, Note: "Trunk host details"},
		{Name: "insecure", SQL: "varchar(4)", Max: 4, Kind: Enum, Enum: []string{"port", "very", "no"}, Note: "Asterisk variable"},
		{Name: "language", SQL: "char(2)", Max: 2, Kind: Ident, Note: "Asterisk variable"},
		{Name: "md5secret", SQL: "varchar(80)", Max: 80, Kind: Text, Secret: true, Note: "Asterisk variable"},
		{Name: "nat", SQL: "varchar(5)", Max: 5, Kind: Enum, Enum: []string{"yes", "no", "never", "route"}, Default: "no", Note: "Default = no"},
		{Name: "acl", SQL: "text", Max: 0, Kind: IdentList, Note: "Access list"},
		{Name: "deny", SQL: "varchar(95)", Max: 95, Kind: Networks, Note: "Blocked ips"},
		{Name: "permit", SQL: "varchar(95)", Max: 95, Kind: Networks, Note: "Allowed ips"},
		{Name: "mask", SQL: "varchar(95)", Max: 95, Kind: IP, Note: "Asterisk variable"},
		{Name: "pickupgroup", SQL: "varchar(10)", Max: 10, Kind: CallGroups, Note: "Call pick-up groups"},
		{Name: "port", SQL: "varchar(5)", Max: 5, Kind: Port, Note: "Asterisk variable"},
		{Name: "qualify", SQL: "char(3)", Max: 3, Kind: Qualify, Note: "Asterisk variable"},
		{Name: "restrictcid", SQL: "char(1)", Max: 1, Kind: Enum, Enum: []string{"y", "n", "0", "1"}, Note: "Asterisk variable"},
		{Name: "rtptimeout", SQL: "char(3)", Max: 3, Kind: Integer, Note: "Asterisk variable"},
		{Name: "rtpholdtimeout", SQL: "char(3)", Max: 3, Kind: Integer, Note: "Asterisk variable"},
		{Name: "type", SQL: "varchar(6)", Max: 6, Kind: Enum, Enum: []string{"friend", "user", "peer"}, Note: "Asterisk variable"},
		{Name: "disallow", SQL: "varchar(100)", Max: 100, Kind: Codecs, Note: "Asterisk variable CODECS"},
		{Name: "allow", SQL: "varchar(100)", Max: 100, Kind: Codecs, Note: "Asterisk variable CODECS"},
		{Name: "musiconhold", SQL: "varchar(100)", Max: 100, Kind: Ident, Note: "Asterisk variable"},
		{Name: "regseconds", SQL: "int(11)", Max: 11, Kind: Integer, Status: true, Note: "Asterisk variable"},
		{Name: "ipaddr", SQL: "varchar(45)", Max: 45, Kind: IP, Status: true, Note: "Asterisk variable"},
		{Name: "cancallforward", SQL: "char(3)", Max: 3, Kind: YesNo, Default: "yes", Note: "Default = yes"},
		{Name: "call-limit", SQL: "int(2)", Max: 2, Kind: Integer, Default: "4", Note: "Default = 4"},
		{Name: "lastms", SQL: "int(11)", Max: 11, Kind: Integer, Status: true, Note: "Asterisk variable"},
		{Name: "useragent", SQL: "char(255)", Max: 255, Kind: Text, Status: true, Note: "Asterisk variable"},
		{Name: "regserver", SQL: "varchar(100)", Max: 100, Kind: Text, Status: true, Note: "Asterisk variable"},
		{Name: "phoneprov", SQL: "text", Max: 3, Kind: YesNo, Default: "no", Note: "Auto phone provision"},
		{Name: "phonemac", SQL: "text", Max: 17, Kind: MAC, Note: "Phone mac for provisioning"},
		{Name: "profile", SQL: "varchar(15)", Max: 15, Kind: Ident, Note: "Profile for provisioning"},
		{Name: "protocol", SQL: "text", Max: 8, Kind: Enum, Enum: []string{"SIP", "PJSIP", "IAX", "IAX2", "SCCP"}, Default: "SIP", Note: "Voice signal protocol"},
		{Name: "encryption", SQL: "varchar(3)", Max: 3, Kind: YesNo, Default: "no", Note: "Default = no"},
		{Name: "fallback", SQL: "text", Max: 0, Kind: Text, Default: "none", Note: "Fallback method"},
		{Name: "extstatus", SQL: "int(1)", Max: 1, Kind: Integer, Status: true, Note: "Asterisk variable"},
		{Name: "agentstatus", SQL: "text", Max: 0, Kind: Text, Status: true, Note: "Asterisk variable"},
		{Name: "queue", SQL: "text", Max: 0, Kind: Text, Status: true, Note: "Asterisk variable"},
		{Name: "callsdin", SQL: "int(4)", Max: 4, Kind: Integer, Status: true, Note: "Asterisk variable"},
		{Name: "callsqin", SQL: "int(4)", Max: 4, Kind: Integer, Status: true, Note: "Asterisk variable"},
		{Name: "callsout", SQL: "int(4)", Max: 4, Kind: Integer, Status: true, Note: "Asterisk variable"},
		{Name: "vmunread", SQL: "int(3)", Max: 3, Kind: Integer, Status: true, Note: "Asterisk variable"},
		{Name: "vmold", SQL: "int(3)", Max: 3, Kind: Integer, Status: true, Note: "Asterisk variable"},
		{Name: "cfwdset", SQL: "text", Max: 0, Kind: Text, Status: true, Note: "Asterisk variable"},
		{Name: "cfwdto", SQL: "text", Max: 0, Kind: Text, Status: true, Note: "Asterisk variable"},
		{Name: "callbackextension", SQL: "varchar(15)", Max: 15, Kind: DialString, Note: "Asterisk variable"},
		{Name: "directory", SQL: "text", Max: 3, Kind: YesNo, Default: "yes", Note: "Include in corp directory"},
		{Name: "roaming", SQL: "varchar(3)", Max: 3, Kind: YesNo, Default: "no", Note: "Advertise through DUNDi to every cluster"},
	},
})

// Trunks is the guide's trunk edit form (§3.0.4).
var Trunks = register(&Table{
	Name: "trunks",
	Noun: "trunk",
	Key:  []string{"cluster", "name"},
	Fields: []FieldSpec{
		{Name: "site", SQL: "text", Max: 63, Kind: Label},
		{Name: "cluster", SQL: "text", Max: 63, Kind: Label, Required: true},
		{Name: "group", SQL: "text", Max: 64, Kind: Ident, Note: "owning group; inter-site for links between clusters"},
		{Name: "name", SQL: "varchar(80)", Max: 80, Kind: Ident, Required: true, Note: "trunk name"},
		{Name: "callerid", SQL: "varchar(80)", Max: 80, Kind: CallerID, Note: "callerid outbound"},
		{Name: "authuser", SQL: "varchar(80)", Max: 80, Kind: Text},
		{Name: "secret", SQL: "varchar(80)", Max: 80, Kind: Text, Secret: true},
		{Name: "accountcode", SQL: "varchar(20)", Max: 20, Kind: Text},
		{Name: "context", SQL: "varchar(80)", Max: 80, Kind: Ident, Note: "inbound context"},
		{Name: "amaflags", SQL: "varchar(7)", Max: 7, Kind: Enum, Enum: []string{"default", "omit", "billing", "documentation"}},
		{Name: "fullcontact", SQL: "varchar(80)", Max: 80, Kind: Text, Note: "full contact or description"},
		{Name: "host", SQL: "varchar(80)", Max: 80, Kind: Host, Note: "Telco host"},
		{Name: "insecure", SQL: "varchar(11)", Max: 11, Kind: Text},
		{Name: "md5secret", SQL: "varchar(80)", Max: 80, Kind: Text, Secret: true},
		{Name: "acl", SQL: "text", Max: 0, Kind: IdentList},
		{Name: "port", SQL: "varchar(5)", Max: 5, Kind: Port},
		{Name: "qualify", SQL: "char(3)", Max: 3, Kind: Qualify},
		{Name: "protocol", SQL: "text", Max: 8, Kind: Enum, Enum: []string{"SIP", "PJSIP", "IAX", "IAX2", "DAHDI", "DUNDI"}, Default: "SIP"},
		{Name: "encryption", SQL: "varchar(3)", Max: 3, Kind: YesNo, Default: "no"},
		{Name: "fallback", SQL: "text", Max: 0, Kind: Text, Default: "none"},
		{Name: "register", SQL: "varchar(3)", Max: 3, Kind: YesNo, Default: "no", Note: "the trunk registers with its provider"},
	},
})

// ACLs are the guide's access lists (§3.0.6 Access Lists): any number of
// networks, each address/mask or CIDR, IPv4 or IPv6.
var ACLs = register(&Table{
	Name: "acls",
	Noun: "acl",
	Key:  []string{"name"},
	Fields: []FieldSpec{
		{Name: "name", SQL: "varchar(80)", Max: 80, Kind: Ident, Required: true, Note: "ACL name"},
		{Name: "description", SQL: "text", Max: 0, Kind: Text},
		{Name: "networks", SQL: "text", Max: 0, Kind: Networks, Note: "network 1, network 2, ..."},
	},
})

// Hours is the guide's business hours of service table (§3.0.2).
var Hours = register(&Table{
	Name: "hours",
	Noun: "business hours",
	Key:  []string{"cluster", "group", "function"},
	Fields: []FieldSpec{
		{Name: "site", SQL: "text", Max: 63, Kind: Label},
		{Name: "cluster", SQL: "text", Max: 63, Kind: Label, Required: true},
		{Name: "group", SQL: "text", Max: 64, Kind: Ident, Required: true},
		{Name: "function", SQL: "text", Max: 32, Kind: Ident, Required: true, Note: "OPEN, CLOSED, HOLIDAY..."},
		{Name: "description", SQL: "text", Max: 0, Kind: Text},
		{Name: "active", SQL: "varchar(3)", Max: 3, Kind: YesNo, Default: "yes"},
		{Name: "start_time", SQL: "time", Max: 8, Kind: Time, Default: "00:00:00"},
		{Name: "end_time", SQL: "time", Max: 8, Kind: Time, Default: "23:59:59"},
		{Name: "start_day", SQL: "varchar(3)", Max: 3, Kind: Weekday, Default: "*"},
		{Name: "end_day", SQL: "varchar(3)", Max: 3, Kind: Weekday},
		{Name: "start_date", SQL: "varchar(5)", Max: 5, Kind: DayMonth, Default: "*"},
		{Name: "end_date", SQL: "varchar(5)", Max: 5, Kind: DayMonth},
		{Name: "announcement", SQL: "text", Max: 0, Kind: Ident},
		{Name: "timezone", SQL: "varchar(64)", Max: 64, Kind: TimeZone, Note: "IANA time zone of the times; empty: the site's"},
	},
})

// HotDesks are the guide's hot desk phones (§4.0.3): a phone with local and
// emergency rights that a user can log in to.
var HotDesks = register(&Table{
	Name: "hotdesks",
	Noun: "hot desk",
	Key:  []string{"cluster", "extension"},
	Fields: []FieldSpec{
		{Name: "site", SQL: "text", Max: 63, Kind: Label},
		{Name: "cluster", SQL: "text", Max: 63, Kind: Label, Required: true},
		{Name: "group", SQL: "text", Max: 64, Kind: Ident, Default: "hotdesk"},
		{Name: "extension", SQL: "varchar(80)", Max: 80, Kind: DialString, Required: true},
		{Name: "name", SQL: "varchar(80)", Max: 80, Kind: Text, Note: "telephone name"},
		{Name: "location", SQL: "text", Max: 0, Kind: Text},
		{Name: "context", SQL: "varchar(80)", Max: 80, Kind: Ident, Note: "rights of the phone with nobody logged in"},
		{Name: "user", SQL: "varchar(80)", Max: 80, Kind: DialString, Note: "extension of the user logged in"},
	},
})

// Groups are the agent, department and function groups of the guide's
// group tab; a group is also a batch template (its profile fields).
var Groups = register(&Table{
	Name: "groups",
	Noun: "group",
	Key:  []string{"name"},
	Fields: []FieldSpec{
		{Name: "name", SQL: "varchar(64)", Max: 64, Kind: Ident, Required: true},
		{Name: "description", SQL: "text", Max: 0, Kind: Text},
		{Name: "tenant", SQL: "varchar(64)", Max: 64, Kind: Ident, Note: "the customer the group belongs to"},
		{Name: "contexts", SQL: "text", Max: 0, Kind: IdentList, Note: "dialplan contexts of the group's extensions"},
		{Name: "context", SQL: "varchar(80)", Max: 80, Kind: Ident, Note: "profile: context of new extensions"},
		{Name: "accountcode", SQL: "varchar(20)", Max: 20, Kind: Text, Note: "profile"},
		{Name: "callgroup", SQL: "varchar(10)", Max: 10, Kind: CallGroups, Note: "profile"},
		{Name: "pickupgroup", SQL: "varchar(10)", Max: 10, Kind: CallGroups, Note: "profile"},
		{Name: "acl", SQL: "text", Max: 0, Kind: IdentList, Note: "profile"},
		{Name: "language", SQL: "char(2)", Max: 2, Kind: Ident, Note: "profile"},
		{Name: "protocol", SQL: "text", Max: 8, Kind: Enum, Enum: []string{"SIP", "PJSIP", "IAX", "IAX2", "SCCP"}, Note: "profile"},
		{Name: "encryption", SQL: "varchar(3)", Max: 3, Kind: YesNo, Note: "profile"},
		{Name: "nat", SQL: "varchar(5)", Max: 5, Kind: Enum, Enum: []string{"yes", "no", "never", "route"}, Note: "profile"},
		{Name: "dtmfmode", SQL: "varchar(7)", Max: 7, Kind: Enum, Enum: []string{"rfc2833", "info", "inband", "auto"}, Note: "profile"},
		{Name: "allow", SQL: "varchar(100)", Max: 100, Kind: Codecs, Note: "profile"},
		{Name: "disallow", SQL: "varchar(100)", Max: 100, Kind: Codecs, Note: "profile"},
		{Name: "fallback", SQL: "text", Max: 0, Kind: Text, Note: "profile"},
		{Name: "roaming", SQL: "varchar(3)", Max: 3, Kind: YesNo, Note: "profile"},
	},
})

// Clusters are the HA groups of the guide's service availability table
// (§2.0.1): each serves a voice VIP and is one replica.
var Clusters = register(&Table{
	Name: "clusters",
	Noun: "cluster",
	Key:  []string{"name"},
	Fields: []FieldSpec{
		{Name: "name", SQL: "varchar(63)", Max: 63, Kind: Label, Required: true},
		{Name: "site", SQL: "varchar(63)", Max: 63, Kind: Label, Required: true},
		{Name: "description", SQL: "text", Max: 0, Kind: Text},
		{Name: "voice_vip", SQL: "varchar(45)", Max: 45, Kind: IP, Required: true},
		{Name: "voice_servers", SQL: "text", Max: 0, Kind: IPList},
		{Name: "web_vip", SQL: "varchar(45)", Max: 45, Kind: IP},
		{Name: "web_servers", SQL: "text", Max: 0, Kind: IPList},
		{Name: "sip_port", SQL: "varchar(5)", Max: 5, Kind: Port, Default: "5060"},
		{Name: "sips_port", SQL: "varchar(5)", Max: 5, Kind: Port, Default: "5061"},
		{Name: "transports", SQL: "text", Max: 0, Kind: IdentList, Default: "udp,tcp,tls"},
		{Name: "failover", SQL: "text", Max: 0, Kind: IdentList, Note: "clusters phones move to, in order"},
	},
})

// Sites are the locations that hold clusters.
var Sites = register(&Table{
	Name: "sites",
	Noun: "site",
	Key:  []string{"name"},
	Fields: []FieldSpec{
		{Name: "name", SQL: "varchar(63)", Max: 63, Kind: Label, Required: true},
		{Name: "description", SQL: "text", Max: 0, Kind: Text},
		{Name: "timezone", SQL: "varchar(64)", Max: 64, Kind: TimeZone, Default: "UTC", Note: "IANA time zone"},
	},
})
