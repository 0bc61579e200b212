package httpapi

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/service"
)

var updateReference = flag.Bool("update", false, "rewrite docs/http-api.md from the route table")

// routeDocs says what each route does, for docs/http-api.md. A route
// without a line here fails TestHTTPAPIReference.
var routeDocs = map[string]string{
	"GET /v1/health": "the node's health: `ok`, or `starting`/`unhealthy` with the reason (503); no token needed (load balancers, systemd)",

	"GET /v1/extensions":               "list extensions: `?group=&cluster=&site=&search=&sort=&desc=&limit=&offset=` (`service.Page`)",
	"GET /v1/extensions/{key...}":      "one extension, `CLUSTER/EXT`, with its version (`service.Versioned`)",
	"GET /v1/tables/{table}":           "list a table's records, with the same query as extensions",
	"GET /v1/tables/{table}/{key...}":  "one record of a table",
	"GET /v1/history/{table}/{key...}": "every retained change of a record: time, cluster, author, fields (`[]service.HistoryItem`)",
	"GET /v1/members":                  "the nodes of the enterprise as gossip sees them: cluster, site, role, status, addresses, certificate check",
	"GET /v1/repl/status":              "this agent's replication: mode, order, and every peer of the topology with its state, last contact, changes and seconds behind (`service.ReplStatus`); on a Raft follower, the node that runs replication",
	"GET /v1/repl/lag":                 "each link's changes and seconds behind over the last hour, one sample every 10 s (`[]replicator.LagSample`); empty on a node that does not run replication",
	"GET /v1/repl/verify":              "compare this store's digests with every cluster of the topology: same, differs (with the tables) or unreachable (`service.VerifyReport`)",
	"GET /v1/conflicts":                "records in conflict, with their sides (`[]service.ConflictView`)",
	"GET /v1/conflicts/{ref...}":       "one record's conflict, field by field",
	"GET /v1/raft":                     "this node's view of its cluster's Raft group: state, leader, servers",
	"GET /v1/roaming":                  "the roaming report: `?group=&cluster=&site=&sort=&desc=` (`roaming.Report`)",
	"GET /v1/audit":                    "the audit: `?severity=&min_secret_length=&min_pin_length=&hotdesk_contexts=` (`roaming.AuditResult`: findings, alerting counts, stale acknowledgements)",
	"GET /v1/dundi/config":             "one cluster's DUNDi files: `?cluster=C` (`roaming.Bundle`)",
	"GET /v1/zone":                     "the DNS zone as it would be transferred, with each cluster's health: `?domain=`",
	"GET /v1/status":                   "the status report (what `pbxtopo status` prints): node, peers, replication, Asterisk, SIP probe; `?node=` another node of the enterprise",
	"GET /v1/status/extensions":        "the live status of extensions as the AMI collectors report it: `?cluster=`",
	"GET /v1/hours/{group}/now":        "whether a group is open, by its business hours, and why: `?cluster=&at=`",
	"GET /v1/hours/{group}/dialplan":   "the group's business hours as Asterisk dialplan: `?cluster=`",

	"POST /v1/extensions":                "create an extension (JSON fields); refused with every reason when invalid",
	"PUT /v1/extensions/{key...}":        "replace an extension; `If-Match: VERSION` fails when it changed since",
	"PATCH /v1/extensions/{key...}":      "set only the fields given, merged inside the write; a field in conflict is refused with its sides",
	"DELETE /v1/extensions/{key...}":     "remove an extension (`If-Match` as for PUT)",
	"POST /v1/extensions/move":           "move an extension to another cluster in one write: `{\"from\": \"tpa1/6109\", \"to\": \"sfo\"}`",
	"POST /v1/batch":                     "the guide's batch creation from a template extension or group: `{\"template\", \"cluster\", \"from\", \"to\", \"dry_run\"}`",
	"POST /v1/tables/{table}":            "create a record of a table (JSON fields); the table may need a higher role (`service.WriteRole`)",
	"PUT /v1/tables/{table}/{key...}":    "replace a record",
	"PATCH /v1/tables/{table}/{key...}":  "set only the fields given",
	"DELETE /v1/tables/{table}/{key...}": "remove a record",
	"POST /v1/import":                    "import a CSV or JSON file of one table as one transaction: `?table=&source=&dry_run=`; every bad line is reported and nothing changes",
	"GET /v1/export":                     "a table with its secrets: `?table=` (default extensions) `&format=json` (default CSV)",
	"GET /v1/backup":                     "a consistent copy of the whole store",
	"POST /v1/store/compact":             "compact the store file",
	"POST /v1/revert/{change}":           "write the record as it was before that change (a new change, which replicates)",
	"PUT /v1/repl/topology":              "change the replication topology (`service.TopologyChange`); likely mistakes (a live cluster left out of the ring order, a primary outside primary mode) are refused unless forced",
	"POST /v1/repl/decommission":         "decommission a cluster: its record, its place in the topology, its watermark; its certificates are revoked",
	"POST /v1/conflicts/{ref...}":        "resolve a conflict (`service.ResolveRequest`): keep one side, a value, or one field's side",
	"GET /v1/gossip/keys":                "the gossip keys installed, with how many nodes hold each",
	"POST /v1/gossip/keys/{op}":          "the gossip keyring across the enterprise: `install`, `use` or `remove` the key `{\"key\"}`",
	"DELETE /v1/raft/{node}":             "remove a node from the cluster's Raft configuration; an unknown node is an error naming the nodes",
	"POST /v1/audit/acks":                "acknowledge a finding with a reason: `{\"finding\", \"by\", \"why\"}` (`by` defaults to the token's name)",
	"DELETE /v1/audit/acks/{finding}":    "remove an acknowledgement: the finding alerts again",
}

const referencePath = "../docs/http-api.md"

// reference renders docs/http-api.md from the route table.
func reference(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`# HTTP API reference

Generated from the route table by ` + "`go test ./httpapi -run TestHTTPAPIReference -update`" + `;
` + "`TestHTTPAPIReference`" + ` fails when a route, its role or this file differ.

Every route is served by each agent on its API address (` + "`http_addr`" + `). Send a token as
` + "`Authorization: Bearer TOKEN`" + ` (the CLI's ` + "`--token`" + ` or ` + "`PBXTOPO_TOKEN`" + `); roles are
` + "`read`" + ` < ` + "`operator`" + ` < ` + "`admin`" + `, and a route needs the role shown. Without a tokens file
(the API bound to loopback) every caller is admin. Bodies are JSON. Reads are answered from the
node's own copy; add the header ` + "`" + FreshHeader + ": 1`" + ` to a GET to read through the cluster's Raft
leader. Errors are ` + "`" + `{"error": {"status": 404, "code": "not_found", "message": "..."}}` + "`" + `, the message
saying what was wrong and what to do. A route that ends in a record's key needs it: ` + "`PUT /v1/tables/sites`" + `
(no key) is answered 405 with the route to use (404 where nothing serves the path), never
redirected. ` + "`GET /metrics`" + ` (read role) serves Prometheus metrics and
` + "`/ui/`" + ` the web pages.

| route | role | what |
|---|---|---|
`)
	for _, rt := range routes(service.NewService(nil)) {
		doc, ok := routeDocs[rt.Pattern]
		if !ok {
			t.Errorf("route %q has no line in routeDocs (httpapi/reference_test.go): say what it does", rt.Pattern)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", rt.Pattern, roleName(rt.Role), doc)
	}
	return b.String()
}

func roleName(r service.Role) string {
	if r == service.RoleNone {
		return "none"
	}
	return r.String()
}

// TestHTTPAPIReference: docs/http-api.md is the route table as it is.
func TestHTTPAPIReference(t *testing.T) {
	got := reference(t)
	seen := map[string]bool{}
	for _, rt := range routes(service.NewService(nil)) {
		seen[rt.Pattern] = true
	}
	for p := range routeDocs {
		if !seen[p] {
			t.Errorf("routeDocs describes %q, which is no route any more", p)
		}
	}
	if *updateReference {
		if err := os.WriteFile(referencePath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(referencePath)
	if err != nil || string(b) != got {
		t.Fatalf("docs/http-api.md is not the route table (%v): run go test ./httpapi -run TestHTTPAPIReference -update", err)
	}
}
