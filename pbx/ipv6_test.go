package pbx

import (
	"strings"
	"testing"
)

// IPv6 VIPs, server lists and ACL networks validate and normalize like
// IPv4 ones; bad ones get a message naming the field.
func TestIPv6Addresses(t *testing.T) {
	n, err := Clusters.Check(Fields{"name": "v6", "site": "lon", "voice_vip": "2001:DB8::218",
		"voice_servers": "2001:db8::212, 2001:db8:0:0::213", "web_vip": "2001:db8::1:218"})
	if err != nil {
		t.Fatal(err)
	}
	if n["voice_vip"] != "2001:db8::218" || n["voice_servers"] != "2001:db8::212,2001:db8::213" || n["web_vip"] != "2001:db8::1:218" {
		t.Fatalf("normalized: %v", n)
	}
	a, err := ACLs.Check(Fields{"name": "phones", "networks": "10.10.10.0/255.255.255.0, 2001:DB8:10::/48 ::1"})
	if err != nil {
		t.Fatal(err)
	}
	nets, msg := ParseNetworks(a["networks"])
	if msg != "" || len(nets) != 3 || nets[1].Prefix.String() != "2001:db8:10::/48" || nets[2].Prefix.String() != "::1/128" {
		t.Fatalf("networks %q: %v %s", a["networks"], nets, msg)
	}
	if nets, _ := ParseNetworks("::/0"); !nets[0].PermitsAll() {
		t.Error("::/0 should permit all")
	}
	for _, tc := range []struct {
		table *Table
		rec   Fields
		want  string
	}{
		{Clusters, Fields{"name": "v6", "site": "lon", "voice_vip": "2001:db8::218::1"}, `voice_vip "2001:db8::218::1" is not an IP address`},
		{Clusters, Fields{"name": "v6", "site": "lon", "voice_vip": "2001:db8::218", "voice_servers": "2001:db8::212,[2001:db8::213]"}, "voice_servers item 2"},
		{Clusters, Fields{"name": "v6", "site": "lon", "voice_vip": "fe80::1%eth0"}, `voice_vip "fe80::1%eth0" has an IPv6 zone (%eth0)`},
		{Clusters, Fields{"name": "v6", "site": "lon", "voice_vip": "2001:db8::218", "voice_servers": "fe80::2%eth1"}, "voice_servers item 1"},
		{ACLs, Fields{"name": "phones", "networks": "fe80::%eth0/64"}, `network 1 "fe80::%eth0/64" has an IPv6 zone`},
		{ACLs, Fields{"name": "phones", "networks": "2001:db8::/129"}, `network 1 "2001:db8::/129" has prefix length 129, the limit is 128`},
		{ACLs, Fields{"name": "phones", "networks": "10.0.0.0/8 2001:db8::/255.255.0.0"}, `network 2 "2001:db8::/255.255.0.0" has a mask that is neither`},
	} {
		_, err := tc.table.Check(tc.rec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.rec, err, tc.want)
		}
	}
}

// A newer agent's field (a dictionary code this agent lacks) decodes as
// #CODE and does not hide the fields after it from lookups.
func TestUnknownFieldCodes(t *testing.T) {
	raw := Fields{"#250": "newer", "cluster": "tpa1", "regexten": "6109"}.AppendBinary(nil)
	f, err := DecodeFields(raw)
	if err != nil || f["#250"] != "newer" || f["cluster"] != "tpa1" {
		t.Fatalf("decode: %v %v", f, err)
	}
	for k, want := range map[string]string{"#250": "newer", "cluster": "tpa1", "regexten": "6109"} {
		if v, ok := LookupField(raw, k); !ok || v != want {
			t.Errorf("LookupField(%q) = %q %v", k, v, ok)
		}
	}
	if u := f.UnknownFields(); len(u) != 1 || u[0] != "#250" || IsUnknownField("#5") || IsUnknownField("#0250") {
		t.Fatalf("unknown fields %v", u)
	}
}
