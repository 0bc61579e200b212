package pbx

// Acks are acknowledgements of audit findings: who accepted a finding and
// why. An acknowledged finding stays in every audit but stops alerting.
// They are records like any other, so they replicate to every cluster.
var Acks = register(&Table{
	Name: "acks",
	Noun: "acknowledgement",
	Key:  []string{"finding"},
	Fields: []FieldSpec{
		{Name: "finding", SQL: "varchar(200)", Max: 200, Kind: Text, Required: true, Note: "finding id, e.g. SEC-WEAK-PIN:lon:5021"},
		{Name: "by", SQL: "varchar(80)", Max: 80, Kind: Text, Required: true, Note: "who acknowledged it"},
		{Name: "why", SQL: "text", Max: 500, Kind: Text, Required: true, Note: "why it is accepted"},
		{Name: "at", SQL: "varchar(30)", Max: 30, Kind: Text, Note: "when (RFC 3339, UTC)"},
	},
})
