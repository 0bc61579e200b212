package bench

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// Enterprise describes a synthetic enterprise for benchmarks.
type Enterprise struct {
	Clusters   int     // clusters, two per site
	Extensions int     // extensions in all
	Roaming    float64 // share of numbers that roam (exist on two clusters)
	Seed       int64
}

// Groups of the synthetic enterprise; listing by group selects about
// 1/len(groupNames) of the extensions.
var groupNames = []string{"USSales", "UKSales", "EUSales", "IT", "HR", "Accounts", "TechSupport", "Development", "Training", "hotdesk"}

// ClusterName returns the name of synthetic cluster i.
func ClusterName(i int) string { return fmt.Sprintf("c%02d", i) }

// Write writes sites, clusters, acls, groups and extensions CSV files into
// dir and returns their paths in import order.
func (e Enterprise) Write(dir string) ([]string, error) {
	rnd := rand.New(rand.NewSource(e.Seed))
	files := map[string][]pbx.Fields{}
	for i := 0; i < e.Clusters; i++ {
		site := fmt.Sprintf("s%02d", i/2)
		if i%2 == 0 {
			files["sites"] = append(files["sites"], pbx.Fields{"name": site, "timezone": "UTC"})
		}
		fo := ClusterName((i + 1) % e.Clusters)
		files["clusters"] = append(files["clusters"], pbx.Fields{"name": ClusterName(i), "site": site,
			"voice_vip": fmt.Sprintf("10.%d.0.218", i), "voice_servers": fmt.Sprintf("10.%d.0.216,10.%d.0.215", i, i),
			"failover": fo})
	}
	files["acls"] = []pbx.Fields{{"name": "internal_phones", "networks": "10.0.0.0/8"}}
	for _, g := range groupNames {
		files["groups"] = append(files["groups"], pbx.Fields{"name": g, "contexts": g, "context": g})
	}
	// Extensions go straight to their file: a million of them held as
	// Fields would take gigabytes.
	extPath := filepath.Join(dir, "extensions.csv")
	fh, err := os.Create(extPath)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	bw := bufio.NewWriterSize(fh, 1<<20)
	cw := csv.NewWriter(bw)
	cols := pbx.Extensions.ConfigColumns()
	if err := cw.Write(cols); err != nil {
		return nil, err
	}
	rec := make([]string, len(cols))
	n := 0
	for num := 100000; n < e.Extensions; num++ {
		g := groupNames[rnd.Intn(len(groupNames))]
		home := rnd.Intn(e.Clusters)
		homes := []int{home}
		if rnd.Float64() < e.Roaming && n+1 < e.Extensions {
			homes = append(homes, (home+1+rnd.Intn(e.Clusters-1))%e.Clusters)
		}
		roam := "no"
		if len(homes) > 1 {
			roam = "yes"
		}
		for j, c := range homes {
			mb := fmt.Sprint(num)
			if j > 0 {
				mb = ""
			}
			f := pbx.Fields{
				"cluster": ClusterName(c), "regexten": fmt.Sprint(num), "astgroup": g, "context": g,
				"name": fmt.Sprintf("User %d", num), "callerid": fmt.Sprintf("User %d <%d>", num, num),
				"defaultuser": fmt.Sprint(num), "authuser": fmt.Sprint(num), "secret": fmt.Sprintf("s3cr%08x", rnd.Uint32()),
				"mailbox": mb, "vmsecret": fmt.Sprintf("%06d", 100000+rnd.Intn(800000)), "acl": "internal_phones",
				"roaming": roam, "type": "friend", "host": "dynamic", "allow": "ulaw,alaw", "disallow": "all",
				"callgroup": "5", "pickupgroup": "5", "language": "en", "protocol": "SIP",
			}
			for i, col := range cols {
				rec[i] = pbx.CSVCell(f[col])
			}
			if err := cw.Write(rec); err != nil {
				return nil, err
			}
			n++
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := fh.Close(); err != nil {
		return nil, err
	}
	var paths []string
	for _, t := range []string{"sites", "clusters", "acls", "groups"} {
		tbl, _ := pbx.LookupTable(t)
		p := filepath.Join(dir, t+".csv")
		fh, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		if err := pbx.WriteCSV(fh, tbl.ConfigColumns(), files[t]); err != nil {
			fh.Close()
			return nil, err
		}
		if err := fh.Close(); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return append(paths, extPath), nil
}
