// Package pbxtopo holds what the whole module shares: the sample
// enterprise of the cluster manager guide, embedded so that the demo works
// from any directory.
package pbxtopo

import "embed"

// SampleEnterprise is testdata/enterprise: one CSV file per table.
//
//go:embed testdata/enterprise/*.csv
var SampleEnterprise embed.FS
