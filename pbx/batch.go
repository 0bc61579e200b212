package pbx

import (
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
)

// Lister is a Catalog that can also list the keys of a table.
type Lister interface {
	Catalog
	Keys(table string) []string
}

// Keys implements Lister.
func (m MapCatalog) Keys(table string) []string {
	keys := make([]string, 0, len(m[table]))
	for k := range m[table] {
		keys = append(keys, k)
	}
	return keys
}

// BatchRequest asks for a range of new extensions made from a template
// (guide §3.0.5): an existing extension ("CLUSTER/EXT") or a group profile.
type BatchRequest struct {
	Template string
	Cluster  string
	From, To string
	Rand     io.Reader // for secrets; crypto/rand when nil
}

// BatchPlan is the validated result: the records to create, or the reasons
// the batch is invalid. Notes are informational.
type BatchPlan struct {
	Records  []Fields
	Problems []string
	Notes    []string
}

// Valid reports whether the batch may be applied.
func (p *BatchPlan) Valid() bool { return len(p.Problems) == 0 }

// maxBatch bounds one batch; bigger ranges are a typo more often than not.
const maxBatch = 10000

// personalFields are not copied from a template extension: they belong to
// the person or phone, not to the profile.
var personalFields = map[string]bool{
	"id": true, "name": true, "callerid": true, "defaultuser": true, "regexten": true,
	"authuser": true, "secret": true, "mailbox": true, "vmsecret": true, "md5secret": true,
	"fullcontact": true, "phonemac": true, "callbackextension": true, "defaultip": true,
	"site": true, "cluster": true,
}

// profileFields are the extension fields a group profile sets.
var profileFields = []string{"context", "accountcode", "callgroup", "pickupgroup", "acl", "language",
	"protocol", "encryption", "nat", "dtmfmode", "allow", "disallow", "fallback", "roaming"}

// PlanBatch validates a batch against the catalog and returns the plan. The
// error is for a request that cannot be planned at all (unknown template,
// bad range); problems with single numbers go into the plan.
func PlanBatch(req BatchRequest, cat Lister) (*BatchPlan, error) {
	base, err := batchTemplate(req.Template, cat)
	if err != nil {
		return nil, err
	}
	if _, ok := cat.Get(Clusters.Name, req.Cluster); !ok {
		return nil, fmt.Errorf("cluster %q is not defined; the clusters are %s", req.Cluster, strings.Join(sortedKeys(cat, Clusters.Name), ", "))
	}
	from, to, width, err := batchRange(req.From, req.To)
	if err != nil {
		return nil, err
	}
	rnd := req.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	clusters := sortedKeys(cat, Clusters.Name)
	plan := &BatchPlan{}
	for n := from; n <= to; n++ {
		num := fmt.Sprintf("%0*d", width, n)
		rec := base.Clone()
		rec["cluster"] = req.Cluster
		rec["regexten"] = num
		rec["defaultuser"] = num
		rec["authuser"] = num
		rec["mailbox"] = num
		if rec["secret"], err = randomString(rnd, secretAlphabet, 16); err != nil {
			return nil, err
		}
		if rec["vmsecret"], err = randomPIN(rnd, num); err != nil {
			return nil, err
		}
		ok := true
		for _, c := range clusters {
			other, exists := cat.Get(Extensions.Name, c+"/"+num)
			if !exists {
				continue
			}
			switch {
			case c == req.Cluster:
				plan.Problems = append(plan.Problems, fmt.Sprintf("%s: already exists on cluster %s", num, c))
				ok = false
			case other["roaming"] != "yes":
				plan.Problems = append(plan.Problems, fmt.Sprintf("%s: already exists on cluster %s and is not roaming", num, c))
				ok = false
			case rec["roaming"] != "yes":
				plan.Problems = append(plan.Problems, fmt.Sprintf("%s: already exists on cluster %s as a roaming number, and the template is not roaming", num, c))
				ok = false
			default:
				if other["mailbox"] != "" {
					delete(rec, "mailbox")
				}
				plan.Notes = append(plan.Notes, fmt.Sprintf("%s: also on cluster %s (roaming); the mailbox stays on one cluster", num, c))
			}
		}
		if !ok {
			continue
		}
		full, err := Extensions.Prepare(rec, cat)
		if err != nil {
			plan.Problems = append(plan.Problems, fmt.Sprintf("%s: %v", num, err))
			continue
		}
		plan.Records = append(plan.Records, full)
	}
	return plan, nil
}

func batchTemplate(tmpl string, cat Catalog) (Fields, error) {
	if tmpl == "" {
		return nil, fmt.Errorf("no template: give an extension (CLUSTER/EXT) or a group name")
	}
	rec := Fields{}
	if strings.Contains(tmpl, "/") {
		ext, ok := cat.Get(Extensions.Name, tmpl)
		if !ok {
			return nil, fmt.Errorf("template extension %s does not exist", tmpl)
		}
		for k, v := range ext {
			if spec, known := Extensions.Spec(k); known && !spec.Status && !personalFields[k] {
				rec[k] = v
			}
		}
		return rec, nil
	}
	g, ok := cat.Get(Groups.Name, tmpl)
	if !ok {
		return nil, fmt.Errorf("template group %q does not exist; give an existing group or an extension as CLUSTER/EXT", tmpl)
	}
	rec["astgroup"] = g["name"]
	for _, k := range profileFields {
		if g[k] != "" {
			rec[k] = g[k]
		}
	}
	return rec, nil
}

func batchRange(from, to string) (lo, hi uint64, width int, err error) {
	if !isDigits(from) || !isDigits(to) {
		return 0, 0, 0, fmt.Errorf("range %q-%q: both ends must be numbers", from, to)
	}
	lo, err1 := strconv.ParseUint(from, 10, 64)
	hi, err2 := strconv.ParseUint(to, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, 0, fmt.Errorf("range %q-%q: numbers too large", from, to)
	}
	if hi < lo {
		return 0, 0, 0, fmt.Errorf("range %s-%s: the end is below the start", from, to)
	}
	if hi-lo+1 > maxBatch {
		return 0, 0, 0, fmt.Errorf("range %s-%s holds %d numbers, the limit is %d per batch", from, to, hi-lo+1, maxBatch)
	}
	return lo, hi, len(from), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func sortedKeys(cat Lister, table string) []string {
	keys := cat.Keys(table)
	sortStrings(keys)
	return keys
}

// RandomSecret returns a new random SIP secret of 16 characters that no
// weak-secret rule flags.
func RandomSecret() (string, error) { return randomString(rand.Reader, secretAlphabet, 16) }

const secretAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func randomString(r io.Reader, alphabet string, n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		k, err := rand.Int(r, max)
		if err != nil {
			return "", fmt.Errorf("generate secret: %w", err)
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}

// randomPIN returns a 6-digit voicemail PIN that no weak-PIN rule flags.
func randomPIN(r io.Reader, ext string) (string, error) {
	for {
		p, err := randomString(r, "0123456789", 6)
		if err != nil {
			return "", err
		}
		if WeakPIN(p, ext, 6) == "" {
			return p, nil
		}
	}
}
