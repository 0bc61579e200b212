package store

import "slices"

// A record's change graph is stored encoded and decoded only when a view
// or a merge needs it: a line of edits of one record appends one encoded
// node per change without reading the others, so a record edited often
// between two collections does not cost more on every edit.

// lazyGraph is a record's graph as stored.
type lazyGraph struct {
	count  int
	body   []byte // the encoded nodes
	merges bool   // some node superseded several versions
	// open opens a sealed value of a node (nil: values are plain).
	open   func([]byte) ([]byte, error)
	loaded bool // Record.Graph holds the nodes; body is stale
}

// graphLen returns how many nodes the record's graph holds.
func (r *Record) graphLen() int {
	if r.lazy.loaded || r.lazy.body == nil {
		return len(r.Graph)
	}
	return r.lazy.count
}

// hasMerges reports whether a node of the graph superseded several
// versions (then even one live version may carry a field conflict).
func (r *Record) hasMerges() bool {
	if r.lazy.loaded || r.lazy.body == nil {
		return slices.ContainsFunc(r.Graph, func(n Node) bool { return len(n.Context) > 1 })
	}
	return r.lazy.merges
}

// nodes returns the record's graph, decoding it on first use.
func (r *Record) nodes() ([]Node, error) {
	if r.lazy.loaded || r.lazy.body == nil {
		return r.Graph, nil
	}
	d := newDecoder(r.lazy.body)
	g := d.nodes(r.lazy.count)
	if err := d.Done(); err != nil {
		return nil, err
	}
	if r.lazy.open != nil {
		for i := range g {
			var err error
			if g[i].Value, err = r.lazy.open(g[i].Value); err != nil {
				return nil, err
			}
		}
	}
	r.Graph, r.lazy.loaded, r.lazy.body = g, true, nil
	return g, nil
}

// addNode appends a node: encoded, when the graph was not decoded.
func (r *Record) addNode(n Node) {
	if r.lazy.loaded || r.lazy.body == nil {
		r.Graph = append(slices.Clone(r.Graph), n)
		return
	}
	e := newEncoder(slices.Clip(r.lazy.body))
	e.node(n)
	r.lazy.body, r.lazy.count = e.B, r.lazy.count+1
	r.lazy.merges = r.lazy.merges || len(n.Context) > 1
}

// dropGraph forgets the record's graph (a quiet record, compacted).
func (r *Record) dropGraph() {
	r.Graph, r.lazy, r.cached = nil, lazyGraph{}, nil
}
