package dundi

import (
	"bytes"
	"cmp"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// index is StoreDirectory's in-memory view of the store, laid out so the
// garbage collector has almost nothing to mark: numbers and clusters are
// integers into flat arrays of bytes and integers, not strings, maps and
// slices of their own. With 100,000 numbers the map-and-strings index
// held about 15 MB the collector scanned on every cycle; a busy peer
// collects every few hundred milliseconds, and the marking showed in its
// p99. Only the few clusters keep strings.
//
// Number i (0 ≤ i < n, in sorted order) is text[end[i-1]:end[i]]; its
// clusters, in preference order, are holders[from[i]:from[i+1]].
type index struct {
	text    []byte   // every roaming number, sorted, back to back
	end     []uint32 // where each number ends in text
	slots   []uint32 // open addressing on the number's hash: i+1, or 0 (empty)
	seed    maphash.Seed
	holders []uint16 // cluster ids
	from    []uint32 // len n+1

	clusters   []clusterInfo // by id
	perCluster [][]uint32    // by cluster id: its numbers, ascending (so sorted)
	names      []uint16      // ids of the clusters with roaming numbers, by name
}

// clusterInfo is what the index knows of a cluster.
type clusterInfo struct {
	name     string
	vip      string
	failover []string
	eid      string
	id       EID // eid, as answers carry it (a hash: computed once here)
}

// holding is one roaming extension: a number on a cluster.
type holding struct {
	number, cluster string
	mailbox         bool
}

// buildIndex reads the clusters and the roaming extensions of a snapshot.
// prev is the index it replaces (nil at first): the store changes little
// between two builds, so its size is the room to start with (growing a
// slice of 200,000 holdings by appends allocates five times its size).
func buildIndex(sn *store.Snapshot, eidOf func(string) EID, prev *index) (*index, error) {
	known := map[string]clusterInfo{}
	err := sn.Scan(pbx.Clusters.Name, "", func(key string, v []byte) error {
		vip, _ := pbx.LookupField(v, "voice_vip")
		fo, _ := pbx.LookupField(v, "failover")
		id := eidOf(key)
		known[key] = clusterInfo{name: key, vip: vip, failover: pbx.List(fo), eid: id.String(), id: id}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var all []holding
	if prev != nil {
		all = make([]holding, 0, len(prev.holders)+len(prev.holders)/16)
	}
	err = sn.Scan(pbx.Extensions.Name, "", func(key string, v []byte) error {
		if !pbx.HasField(v, "roaming", "yes") {
			return nil
		}
		cluster, number, ok := strings.Cut(key, "/")
		if !ok || number == "" {
			return nil
		}
		mb, _ := pbx.LookupField(v, "mailbox")
		all = append(all, holding{number: number, cluster: cluster, mailbox: mb != ""})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b holding) int {
		return cmp.Or(strings.Compare(a.number, b.number), strings.Compare(a.cluster, b.cluster))
	})
	return newIndex(all, known, eidOf)
}

// newIndex builds the index of holdings sorted by number, then cluster.
func newIndex(all []holding, known map[string]clusterInfo, eidOf func(string) EID) (*index, error) {
	idx := &index{seed: maphash.MakeSeed()}
	ids := map[string]uint16{}
	intern := func(c string) (uint16, error) {
		if id, ok := ids[c]; ok {
			return id, nil
		}
		if len(idx.clusters) > math.MaxUint16 {
			return 0, fmt.Errorf("more than %d clusters hold roaming numbers", math.MaxUint16+1)
		}
		ci, ok := known[c]
		if !ok { // holds numbers but is not in the clusters table: never answers EXISTS
			id := eidOf(c)
			ci = clusterInfo{name: c, eid: id.String(), id: id}
		}
		id := uint16(len(idx.clusters))
		ids[c] = id
		idx.clusters = append(idx.clusters, ci)
		idx.perCluster = append(idx.perCluster, nil)
		return id, nil
	}
	var numbers []string // the distinct numbers, sorted
	size := 0
	for i := 0; i < len(all); {
		numbers = append(numbers, all[i].number)
		size += len(all[i].number)
		for i++; i < len(all) && all[i].number == all[i-1].number; i++ {
		}
	}
	// Sized at once: appends would leave as much again as garbage.
	idx.text = make([]byte, 0, size)
	idx.end = make([]uint32, 0, len(numbers))
	idx.from = append(make([]uint32, 0, len(numbers)+1), 0)
	idx.holders = make([]uint16, 0, len(all))
	var holders []string
	for n, number := range numbers {
		idx.text = append(idx.text, number...)
		idx.end = append(idx.end, uint32(len(idx.text)))
		holders = holders[:0]
		home := ""
		for ; len(all) > 0 && all[0].number == number; all = all[1:] {
			holders = append(holders, all[0].cluster)
			if all[0].mailbox && home == "" { // the first by name holds the mailbox
				home = all[0].cluster
			}
		}
		for _, c := range preference(holders, home, known) {
			id, err := intern(c)
			if err != nil {
				return nil, err
			}
			idx.holders = append(idx.holders, id)
			idx.perCluster[id] = append(idx.perCluster[id], uint32(n))
		}
		idx.from = append(idx.from, uint32(len(idx.holders)))
	}
	idx.slots = make([]uint32, 1<<bits.Len(uint(2*len(numbers))))
	for n := range numbers {
		s := idx.slot(numbers[n])
		for idx.slots[s] != 0 {
			s = (s + 1) % len(idx.slots)
		}
		idx.slots[s] = uint32(n + 1)
	}
	for id := range idx.clusters {
		idx.names = append(idx.names, uint16(id))
	}
	slices.SortFunc(idx.names, func(a, b uint16) int { return strings.Compare(idx.clusters[a].name, idx.clusters[b].name) })
	return idx, nil
}

// size is the number of roaming numbers.
func (idx *index) size() int { return len(idx.end) }

// number is the text of number i.
func (idx *index) number(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = idx.end[i-1]
	}
	return idx.text[start:idx.end[i]]
}

// slot is where the search for number starts in slots.
func (idx *index) slot(number string) int {
	return int(maphash.String(idx.seed, number) & uint64(len(idx.slots)-1))
}

// find returns the place of number, or false.
func (idx *index) find(number string) (int, bool) {
	for s := idx.slot(number); idx.slots[s] != 0; s = (s + 1) % len(idx.slots) {
		if i := int(idx.slots[s] - 1); string(idx.number(i)) == number {
			return i, true
		}
	}
	return 0, false
}

// hasLongerAt reports whether a longer number starts with number i: the
// numbers are sorted, so then the next one does.
func (idx *index) hasLongerAt(i int) bool {
	return i+1 < idx.size() && bytes.HasPrefix(idx.number(i+1), idx.number(i))
}

// holdersOf returns the clusters of number i, in preference order.
func (idx *index) holdersOf(i int) []uint16 { return idx.holders[idx.from[i]:idx.from[i+1]] }

// anyLonger reports whether any cluster holds a roaming number that
// starts with prefix and is longer: one search that spares the per-cluster
// ones for the usual full-length number.
func (idx *index) anyLonger(prefix string) bool {
	i := idx.search(prefix)
	if i < idx.size() && string(idx.number(i)) == prefix {
		i++
	}
	return i < idx.size() && startsWith(idx.number(i), prefix)
}

// hasLonger reports whether cluster holds a roaming number that starts
// with prefix and is longer than it.
func (idx *index) hasLonger(cluster uint16, prefix string) bool {
	nums := idx.perCluster[cluster]
	i := idx.searchIn(nums, prefix)
	if i < len(nums) && string(idx.number(int(nums[i]))) == prefix {
		i++
	}
	return i < len(nums) && startsWith(idx.number(int(nums[i])), prefix)
}

// search returns the place of the first number not less than p.
func (idx *index) search(p string) int {
	lo, hi := 0, idx.size()
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if string(idx.number(mid)) < p {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// searchIn returns the place in nums (number places, ascending) of the
// first number not less than p.
func (idx *index) searchIn(nums []uint32, p string) int {
	lo, hi := 0, len(nums)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if string(idx.number(int(nums[mid]))) < p {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// startsWith is strings.HasPrefix for a number's bytes, without a copy.
func startsWith(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}
