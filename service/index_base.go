package service

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// baseIndex is the extensions as of the last rebuild, laid out for
// answering pages without touching every row: rows are numbered (ids) in
// the natural order of their keys; each other indexed column has its
// order (number, name) or its rows grouped by value (group, cluster,
// site); every word has its postings, the ids of the rows it belongs to.
// It is never changed once built, so searches read it without locks.
type baseIndex struct {
	n int // rows
	// keys, nums and names by id (ids are in natural key order), and
	// words, are string tables: a million rows hold no pointers for the
	// collector to chase.
	keys, nums, names strTable
	// attr holds each row's group, cluster and site as numbers of dict.
	attr [][3]uint32
	dict []string
	// lowerDict is dict lower-cased (the filters compare that way);
	// dictRank is each value's place in natural order.
	lowerDict []string
	dictRank  []uint32
	// byAttr[a][v] are the ids whose attribute a is dict value v, in id
	// order; dictOrder lists the values in natural order and before[a][r]
	// counts the rows whose attribute a has a value of rank below r.
	byAttr    [3][][]uint32
	dictOrder []uint32
	before    [3][]int
	// order[c] are the ids in the order of column c (1: number, 2: name),
	// rank[c][id] each id's place in it.
	order [3][]uint32
	rank  [3][]uint32
	// words are the distinct words of every row, sorted; the ids of the
	// rows of word i are post[postStart[i]:postStart[i+1]], ascending.
	words     strTable
	postStart []uint32
	post      []uint32
}

// buildBase reads every extension of sn.
func buildBase(sn *store.Snapshot) (*baseIndex, error) {
	type scanned struct {
		key, num, name string
		attr           [3]uint32
		words          [2]uint32 // rowWords[words[0]:words[1]]
	}
	var rows []scanned
	dictID := map[string]uint32{}
	var dict []string
	intern := func(v []byte) uint32 {
		if id, ok := dictID[string(v)]; ok {
			return id
		}
		s := string(v)
		dictID[s] = uint32(len(dict))
		dict = append(dict, s)
		return dictID[s]
	}
	wordID := map[string]uint32{}
	var wordList []string
	var rowWords []uint32
	empty := intern(nil)
	err := sn.Scan(pbx.Extensions.Name, "", func(key string, v []byte) error {
		r := scanned{key: key, attr: [3]uint32{empty, empty, empty}}
		r.words[0] = uint32(len(rowWords))
		pbx.EachField(v, func(name string, value []byte) bool {
			switch name {
			case "regexten":
				r.num = string(value)
			case "name":
				r.name = string(value)
			case "astgroup":
				r.attr[0] = intern(value)
			case "cluster":
				r.attr[1] = intern(value)
			case "site":
				r.attr[2] = intern(value)
			}
			if isSearchField(name) {
				for _, w := range searchWords(string(value)) {
					id, ok := wordID[w]
					if !ok {
						id = uint32(len(wordList))
						wordID[w] = id
						wordList = append(wordList, w)
					}
					if !slices.Contains(rowWords[r.words[0]:], id) {
						rowWords = append(rowWords, id)
					}
				}
			}
			return true
		})
		r.words[1] = uint32(len(rowWords))
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	wordID = nil
	n := len(rows)
	// Ids in the natural order of the keys (the scan gives byte order).
	byKey := make([]naturalKey, n)
	perm := make([]uint32, n)
	for i, r := range rows {
		byKey[i], perm[i] = newNaturalKey(r.key), uint32(i)
	}
	slices.SortFunc(perm, func(x, y uint32) int {
		if v := byKey[x].compare(byKey[y]); v != 0 {
			return v
		}
		return cmp.Compare(x, y)
	})
	byKey = nil
	b := &baseIndex{n: n, attr: make([][3]uint32, n), dict: dict}
	for id, old := range perm {
		r := &rows[old]
		b.keys.add(r.key)
		b.nums.add(r.num)
		b.names.add(r.name)
		b.attr[id] = r.attr
	}
	// Words: sorted, then the postings of each, in id order.
	wordRank := make([]uint32, len(wordList))
	byWord := make([]uint32, len(wordList))
	for i := range byWord {
		byWord[i] = uint32(i)
	}
	slices.SortFunc(byWord, func(x, y uint32) int { return strings.Compare(wordList[x], wordList[y]) })
	for rank, w := range byWord {
		wordRank[w] = uint32(rank)
		b.words.add(wordList[w])
	}
	nWords := len(byWord)
	b.postStart = make([]uint32, nWords+1)
	for _, w := range rowWords {
		b.postStart[wordRank[w]+1]++
	}
	for i := 1; i < len(b.postStart); i++ {
		b.postStart[i] += b.postStart[i-1]
	}
	b.post = make([]uint32, len(rowWords))
	fill := slices.Clone(b.postStart[:nWords])
	for id, old := range perm {
		r := &rows[old]
		for _, w := range rowWords[r.words[0]:r.words[1]] {
			rank := wordRank[w]
			b.post[fill[rank]] = uint32(id)
			fill[rank]++
		}
	}
	rows, rowWords, wordList = nil, nil, nil
	if b.keys.full() || b.names.full() || b.words.full() {
		return nil, fmt.Errorf("the extensions are too large to index (over 4 GB of keys, names or words)")
	}
	for _, t := range []*strTable{&b.keys, &b.nums, &b.names, &b.words} {
		t.trim()
	}
	// Number and name orders.
	for c, vals := range map[int]*strTable{1: &b.nums, 2: &b.names} {
		keys := make([]naturalKey, n)
		order := make([]uint32, n)
		for id := range n {
			keys[id], order[id] = newNaturalKey(vals.get(uint32(id))), uint32(id)
		}
		slices.SortFunc(order, func(x, y uint32) int {
			if v := keys[x].compare(keys[y]); v != 0 {
				return v
			}
			return cmp.Compare(x, y)
		})
		rank := make([]uint32, n)
		for pos, id := range order {
			rank[id] = uint32(pos)
		}
		b.order[c], b.rank[c] = order, rank
	}
	// Group, cluster and site: rows by value, values in natural order.
	b.lowerDict = make([]string, len(dict))
	dictKeys := make([]naturalKey, len(dict))
	b.dictOrder = make([]uint32, len(dict))
	for i, v := range dict {
		b.lowerDict[i], dictKeys[i], b.dictOrder[i] = strings.ToLower(v), newNaturalKey(v), uint32(i)
	}
	slices.SortFunc(b.dictOrder, func(x, y uint32) int { return dictKeys[x].compare(dictKeys[y]) })
	b.dictRank = make([]uint32, len(dict))
	for r, v := range b.dictOrder {
		b.dictRank[v] = uint32(r)
	}
	for a := range 3 {
		counts := make([]int, len(dict))
		for _, at := range b.attr {
			counts[at[a]]++
		}
		lists := make([][]uint32, len(dict))
		for v, c := range counts {
			if c > 0 {
				lists[v] = make([]uint32, 0, c)
			}
		}
		for id, at := range b.attr {
			lists[at[a]] = append(lists[at[a]], uint32(id))
		}
		b.byAttr[a] = lists
		before := make([]int, len(dict)+1)
		for r, v := range b.dictOrder {
			before[r+1] = before[r] + counts[v]
		}
		b.before[a] = before
	}
	return b, nil
}

// value returns column c of row id.
func (b *baseIndex) value(c int, id uint32) string {
	switch c {
	case 0:
		return b.keys.get(id)
	case 1:
		return b.nums.get(id)
	case 2:
		return b.names.get(id)
	}
	return b.dict[b.attr[id][c-3]]
}

// find returns the id of a key.
func (b *baseIndex) find(key string) (uint32, bool) {
	k := newNaturalKey(key)
	i := sort.Search(b.n, func(i int) bool { return newNaturalKey(b.keys.get(uint32(i))).compare(k) >= 0 })
	if i < b.n && b.keys.get(uint32(i)) == key {
		return uint32(i), true
	}
	return 0, false
}

// place sets r.pos: per column, how many base rows sort before r.
func (b *baseIndex) place(r *idxRow) {
	n := b.n
	before := func(c int, id uint32) bool { // base row id sorts before r in column c
		if v := newNaturalKey(b.value(c, id)).compare(r.sort[c]); v != 0 {
			return v < 0
		}
		return newNaturalKey(b.keys.get(id)).compare(r.sort[0]) < 0
	}
	r.pos[0] = sort.Search(n, func(i int) bool { return !before(0, uint32(i)) })
	for _, c := range []int{1, 2} {
		r.pos[c] = sort.Search(n, func(i int) bool { return !before(c, b.order[c][i]) })
	}
	for a := range 3 {
		// The values ranked below r's, then r's place among the rows of
		// its own value (in id order).
		rank := sort.Search(len(b.dictOrder), func(i int) bool {
			return newNaturalKey(b.dict[b.dictOrder[i]]).compare(r.sort[3+a]) >= 0
		})
		pos := b.before[a][rank]
		if rank < len(b.dictOrder) && b.dict[b.dictOrder[rank]] == r.sort[3+a].s {
			list := b.byAttr[a][b.dictOrder[rank]]
			pos += sort.Search(len(list), func(i int) bool { return !before(0, list[i]) })
		}
		r.pos[3+a] = pos
	}
}

// baseMatch is the base rows a query selects: every live row, a few
// ids, a set, or a test (dense: a large share of the rows passes, so a
// walk in any order meets a page of them after a few steps, without
// building anything the size of the table); count is how many.
type baseMatch struct {
	all   bool
	ids   []uint32 // ascending
	set   bitset
	dense func(id uint32) bool
	// denseIDs, when set, are the ids a dense test passes (gone ones
	// included), ascending: the order of column 0, walked directly (the
	// rows of one cluster are together in key order, far from the start).
	denseIDs []uint32
	count    int
}

// release returns the match's set to the pool.
func (m baseMatch) release() {
	if m.set != nil {
		putBitset(m.set)
	}
}

// match returns the live base rows with every query word and the filters.
// goneIDs are the ids set in gone, ascending.
func (b *baseIndex) match(query []string, want [4]string, gone bitset, goneIDs []uint32) baseMatch {
	allowed := [3][]uint32{}
	filtered := false
	for a := range 3 {
		if w := want[a+1]; w != "" {
			filtered = true
			allowed[a] = []uint32{} // none unless a value matches
			for v, l := range b.lowerDict {
				if l == w {
					allowed[a] = append(allowed[a], uint32(v))
				}
			}
		}
	}
	if len(query) == 0 && !filtered {
		return baseMatch{all: true, count: b.n - len(goneIDs)}
	}
	if m, ok := b.denseMatch(query, allowed, gone, goneIDs); ok {
		return m
	}
	size := func(a int) int {
		t := 0
		for _, v := range allowed[a] {
			t += len(b.byAttr[a][v])
		}
		return t
	}
	keep := func(id uint32) bool {
		if gone.has(id) {
			return false
		}
		for a := range 3 {
			if allowed[a] != nil && !slices.Contains(allowed[a], b.attr[id][a]) {
				return false
			}
		}
		return true
	}
	// Many matches are a set, filtered word by word; a few, a list.
	if len(query) > 0 {
		if set := b.wordSet(query); set != nil {
			set.andNot(gone)
			for a := range 3 {
				if allowed[a] != nil {
					f := getBitset(b.n)
					for _, v := range allowed[a] {
						for _, id := range b.byAttr[a][v] {
							f.set(id)
						}
					}
					set.and(f)
					putBitset(f)
				}
			}
			return baseMatch{set: set, count: set.count()}
		}
	}
	var cand []uint32
	if len(query) > 0 {
		cand = b.wordList(query)
	} else {
		best := -1
		for a := range 3 {
			if allowed[a] != nil && (best < 0 || size(a) < size(best)) {
				best = a
			}
		}
		cand = make([]uint32, 0, size(best))
		for _, v := range allowed[best] {
			cand = append(cand, b.byAttr[best][v]...)
		}
		if len(allowed[best]) > 1 {
			slices.Sort(cand)
		}
	}
	out := cand[:0]
	for _, id := range cand {
		if keep(id) {
			out = append(out, id)
		}
	}
	return baseMatch{ids: out, count: len(out)}
}

// denseMatch answers, as a test per id, the two common queries whose
// matches are a large share of the rows: one filter (a group, a cluster
// or a site) and no words, or one word that prefixes a single indexed
// word ("user") and no filter. Its cost is the count: the sizes of
// lists the index holds, less the gone rows among them.
func (b *baseIndex) denseMatch(query []string, allowed [3][]uint32, gone bitset, goneIDs []uint32) (baseMatch, bool) {
	dense := func(size int) bool { return size > b.n/32+64 }
	filters := 0
	for a := range 3 {
		if allowed[a] != nil {
			filters++
		}
	}
	switch {
	case len(query) == 0 && filters == 1:
		a := slices.IndexFunc(allowed[:], func(v []uint32) bool { return v != nil })
		vals := allowed[a]
		size := 0
		for _, v := range vals {
			size += len(b.byAttr[a][v])
		}
		if !dense(size) {
			return baseMatch{}, false
		}
		has := func(id uint32) bool { return slices.Contains(vals, b.attr[id][a]) }
		for _, id := range goneIDs {
			if has(id) {
				size--
			}
		}
		m := baseMatch{dense: func(id uint32) bool { return !gone.has(id) && has(id) }, count: size}
		if len(vals) == 1 {
			m.denseIDs = b.byAttr[a][vals[0]]
		}
		return m, true
	case len(query) == 1 && filters == 0:
		spans := b.prefixSpans(query)
		if s := spans[0]; s[1]-s[0] == 1 && dense(b.postings(s)) {
			post := b.post[b.postStart[s[0]]:b.postStart[s[1]]]
			has := func(id uint32) bool { _, ok := slices.BinarySearch(post, id); return ok }
			size := len(post)
			for _, id := range goneIDs {
				if has(id) {
					size--
				}
			}
			return baseMatch{dense: func(id uint32) bool { return !gone.has(id) && has(id) }, denseIDs: post, count: size}, true
		}
	}
	return baseMatch{}, false
}

// prefixSpans returns, per query word, the range of words it starts,
// rarest first (fewest postings).
func (b *baseIndex) prefixSpans(query []string) [][2]int {
	spans := make([][2]int, len(query))
	nw := b.words.len()
	for i, q := range query {
		lo := sort.Search(nw, func(j int) bool { return b.words.get(uint32(j)) >= q })
		hi := lo + sort.Search(nw-lo, func(j int) bool { return !strings.HasPrefix(b.words.get(uint32(lo+j)), q) })
		spans[i] = [2]int{lo, hi}
	}
	slices.SortFunc(spans, func(x, y [2]int) int { return b.postings(x) - b.postings(y) })
	return spans
}

func (b *baseIndex) postings(s [2]int) int { return int(b.postStart[s[1]] - b.postStart[s[0]]) }

// wordSet returns the rows where every query word starts a word of the
// row, as a set, when the rarest word has many rows; nil otherwise.
func (b *baseIndex) wordSet(query []string) bitset {
	spans := b.prefixSpans(query)
	if b.postings(spans[0]) <= b.n/32+64 {
		return nil
	}
	set := getBitset(b.n)
	b.addPostings(set, spans[0])
	if len(spans) > 1 {
		w := getBitset(b.n)
		for _, s := range spans[1:] {
			w.clear()
			b.addPostings(w, s)
			set.and(w)
		}
		putBitset(w)
	}
	return set
}

func (b *baseIndex) addPostings(set bitset, s [2]int) {
	for _, id := range b.post[b.postStart[s[0]]:b.postStart[s[1]]] {
		set.set(id)
	}
}

// wordList returns the rows where every query word starts a word of the
// row, ascending, when the rarest word has few rows.
func (b *baseIndex) wordList(query []string) []uint32 {
	spans := b.prefixSpans(query)
	first := spans[0]
	cand := slices.Clone(b.post[b.postStart[first[0]]:b.postStart[first[1]]])
	if first[1]-first[0] > 1 { // several words: a row may be in several
		slices.Sort(cand)
		cand = slices.Compact(cand)
	}
	for _, s := range spans[1:] {
		if b.fewerLookups(len(cand), s) {
			cand = slices.DeleteFunc(cand, func(id uint32) bool { return !b.hasPosting(s, id) })
			continue
		}
		set := getBitset(b.n)
		b.addPostings(set, s)
		cand = slices.DeleteFunc(cand, func(id uint32) bool { return !set.has(id) })
		putBitset(set)
	}
	return cand
}

// fewerLookups reports whether looking each of n candidates up in the
// postings of span s (a binary search per word) costs less than setting
// a bit per posting: "user 1234" keeps the few rows of "1234" without
// marking the hundred thousand rows of "user".
func (b *baseIndex) fewerLookups(n int, s [2]int) bool {
	return n*(s[1]-s[0])*bits.Len(uint(b.n)) < b.postings(s)
}

// hasPosting reports whether row id has a word of span s.
func (b *baseIndex) hasPosting(s [2]int, id uint32) bool {
	for w := s[0]; w < s[1]; w++ {
		if _, ok := slices.BinarySearch(b.post[b.postStart[w]:b.postStart[w+1]], id); ok {
			return true
		}
	}
	return false
}

// walk calls fn with the matched ids in the order of column col (reversed
// when desc), each with its place in that column's order of every base
// row, until fn returns false.
//
// from is the step the walk starts at (0: the first), for a walk of every
// row (m.all) in column 0, 1 or 2; others ignore it.
func (b *baseIndex) walk(m baseMatch, col int, desc bool, gone bitset, from int, fn func(id uint32, pos int) bool) {
	n := b.n
	// A few matches are sorted; many are found by walking the column's
	// order with a membership set.
	var ok func(id uint32) bool
	switch {
	case m.all:
		ok = func(id uint32) bool { return !gone.has(id) }
	case m.dense != nil && m.denseIDs != nil && col == 0:
		for i := range m.denseIDs {
			if desc {
				i = len(m.denseIDs) - 1 - i
			}
			if id := m.denseIDs[i]; !gone.has(id) && !fn(id, int(id)) {
				return
			}
		}
		return
	case m.dense != nil:
		ok = m.dense
		from = 0
	case m.set != nil:
		from = 0
		ok = m.set.has
	case len(m.ids) <= n/32+64:
		b.walkSorted(m.ids, col, desc, fn)
		return
	default:
		from = 0
		member := getBitset(n)
		defer putBitset(member)
		for _, id := range m.ids {
			member.set(id)
		}
		ok = member.has
	}
	step := func(i int) int { // the i-th position in the walk's direction
		if desc {
			return n - 1 - i
		}
		return i
	}
	switch col {
	case 0:
		for i := from; i < n; i++ {
			if p := step(i); ok(uint32(p)) && !fn(uint32(p), p) {
				return
			}
		}
	case 1, 2:
		order := b.order[col]
		for i := from; i < n; i++ {
			if p := step(i); ok(order[p]) && !fn(order[p], p) {
				return
			}
		}
	default:
		a := col - 3
		for i := range b.dictOrder {
			r := i
			if desc {
				r = len(b.dictOrder) - 1 - i
			}
			list := b.byAttr[a][b.dictOrder[r]]
			for j := range list {
				k := j
				if desc {
					k = len(list) - 1 - j
				}
				if id := list[k]; ok(id) && !fn(id, b.before[a][r]+k) {
					return
				}
			}
		}
	}
}

// walkSorted sorts ids by column col and calls fn in that order.
func (b *baseIndex) walkSorted(ids []uint32, col int, desc bool, fn func(id uint32, pos int) bool) {
	pos := func(id uint32) int {
		switch col {
		case 0:
			return int(id)
		case 1, 2:
			return int(b.rank[col][id])
		}
		a := col - 3
		r := b.dictRank[b.attr[id][a]]
		list := b.byAttr[a][b.attr[id][a]]
		k, _ := slices.BinarySearch(list, id)
		return b.before[a][r] + k
	}
	type placed struct {
		id  uint32
		pos int
	}
	ps := make([]placed, len(ids))
	for i, id := range ids {
		ps[i] = placed{id, pos(id)}
	}
	slices.SortFunc(ps, func(x, y placed) int { return x.pos - y.pos })
	for i := range ps {
		p := ps[i]
		if desc {
			p = ps[len(ps)-1-i]
		}
		if !fn(p.id, p.pos) {
			return
		}
	}
}

// bitset is a set of ids.
type bitset []uint64

func newBitset(n int) bitset        { return make(bitset, (n+63)/64) }
func (s bitset) set(id uint32)      { s[id/64] |= 1 << (id % 64) }
func (s bitset) has(id uint32) bool { return int(id/64) < len(s) && s[id/64]&(1<<(id%64)) != 0 }
func (s bitset) clear()             { clear(s) }

// Bitsets of searches are reused: a million rows make one of 128 KiB.
// The pool holds pointers so that putting one back allocates nothing.
var bitsets sync.Pool

func getBitset(n int) bitset {
	if p, ok := bitsets.Get().(*bitset); ok && len(*p) == (n+63)/64 {
		p.clear()
		return *p
	}
	return newBitset(n)
}

func putBitset(s bitset) { bitsets.Put(&s) }

// strTable is a list of strings in one byte slice: string i is
// data[end[i-1]:end[i]].
type strTable struct {
	data []byte
	end  []uint32
}

func (t *strTable) add(s string) {
	t.data = append(t.data, s...)
	t.end = append(t.end, uint32(len(t.data)))
}

// trim drops the room left by appending.
func (t *strTable) trim() {
	t.data, t.end = slices.Clone(t.data), slices.Clone(t.end)
}

// full reports whether the table outgrew its 32-bit offsets.
func (t *strTable) full() bool { return len(t.data) > math.MaxUint32 }

func (t *strTable) len() int { return len(t.end) }

// get returns string i, sharing the table's bytes (never changed once
// built).
func (t *strTable) get(i uint32) string {
	start := uint32(0)
	if i > 0 {
		start = t.end[i-1]
	}
	if start == t.end[i] {
		return ""
	}
	return unsafe.String(&t.data[start], int(t.end[i]-start))
}

// and keeps the ids also in t; andNot drops those in t.
func (s bitset) and(t bitset) {
	for i := range s {
		s[i] &= t[i]
	}
}

func (s bitset) andNot(t bitset) {
	for i := range min(len(s), len(t)) {
		s[i] &^= t[i]
	}
}

func (s bitset) count() int {
	c := 0
	for _, w := range s {
		c += bits.OnesCount64(w)
	}
	return c
}

// size is the memory the index holds, in bytes (its slices' lengths; the
// strings of dict are few).
func (b *baseIndex) size() int {
	n := 0
	for _, t := range []*strTable{&b.keys, &b.nums, &b.names, &b.words} {
		n += len(t.data) + 4*len(t.end)
	}
	n += 12*len(b.attr) + 4*(len(b.dictOrder)+len(b.dictRank)+len(b.postStart)+len(b.post))
	for a := range 3 {
		for _, l := range b.byAttr[a] {
			n += 4*len(l) + 24
		}
		n += 8 * len(b.before[a])
		n += 4 * (len(b.order[a]) + len(b.rank[a]))
	}
	return n
}
