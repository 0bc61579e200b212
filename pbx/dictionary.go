package pbx

import "sort"

// fieldDictionary numbers the field names of the model so that the binary
// form of a record names a known field with one byte instead of its text:
// field names were half the size of a typical extension record. The list
// is append-only: a name's number is part of the stored format, so new
// names go at the end and no name is ever removed or moved.
var fieldDictionary = [...]string{
	"accountcode",
	"acl",
	"active",
	"agentstatus",
	"allow",
	"amaflags",
	"announcement",
	"astgroup",
	"authuser",
	"call-limit",
	"callbackextension",
	"callerid",
	"callgroup",
	"callsdin",
	"callsout",
	"callsqin",
	"cancallforward",
	"canreinvite",
	"cfwdset",
	"cfwdto",
	"cluster",
	"context",
	"contexts",
	"defaultip",
	"defaultuser",
	"deny",
	"description",
	"directory",
	"disallow",
	"dtmfmode",
	"encryption",
	"end_date",
	"end_day",
	"end_time",
	"extension",
	"extstatus",
	"failover",
	"fallback",
	"fromdomain",
	"fromuser",
	"fullcontact",
	"function",
	"group",
	"host",
	"id",
	"insecure",
	"ipaddr",
	"language",
	"lastms",
	"location",
	"mailbox",
	"mask",
	"md5secret",
	"musiconhold",
	"name",
	"nat",
	"networks",
	"permit",
	"phonemac",
	"phoneprov",
	"pickupgroup",
	"port",
	"profile",
	"protocol",
	"qualify",
	"queue",
	"regexten",
	"register",
	"regseconds",
	"regserver",
	"restrictcid",
	"roaming",
	"rtpholdtimeout",
	"rtptimeout",
	"secret",
	"sip_port",
	"sips_port",
	"site",
	"start_date",
	"start_day",
	"start_time",
	"tenant",
	"timezone",
	"transports",
	"type",
	"user",
	"useragent",
	"vmold",
	"vmsecret",
	"vmunread",
	"voice_servers",
	"voice_vip",
	"web_servers",
	"web_vip",
	// Appended for the acks table (audit acknowledgements).
	"finding",
	"by",
	"why",
	"at",
}

// fieldCode maps a dictionary name to its code (index + 1; 0 means "a
// name spelled out").
var fieldCode = func() map[string]uint64 {
	m := make(map[string]uint64, len(fieldDictionary))
	for i, n := range fieldDictionary {
		m[n] = uint64(i + 1)
	}
	return m
}()

// dictRank is the rank of each dictionary name (by code - 1) in ascending
// name order, and dictByRank the code of each rank: a record of dictionary
// names is put in name order by sorting these small numbers.
var dictRank, dictByRank = func() ([len(fieldDictionary)]uint8, [len(fieldDictionary)]uint64) {
	var rank [len(fieldDictionary)]uint8
	var byRank [len(fieldDictionary)]uint64
	order := make([]int, len(fieldDictionary))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return fieldDictionary[order[a]] < fieldDictionary[order[b]] })
	for r, i := range order {
		rank[i] = uint8(r)
		byRank[r] = uint64(i + 1)
	}
	return rank, byRank
}()

// A rank is a uint8: this fails to compile once the dictionary outgrows it.
const _ = uint8(len(fieldDictionary) - 1)
