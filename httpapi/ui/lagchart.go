package ui

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
)

// LagChart is the seconds each link was behind over the last hour, one
// line per peer, drawn as an SVG on the status page.
type LagChart struct {
	Width, Height int
	Lines         []LagLine
	Max           float64 // seconds at the top of the chart
	Samples       int
	Note          string // why there is nothing to draw
}

// LagLine is one peer's lag over time.
type LagLine struct {
	Peer   string
	Points string // SVG polyline points
	Colour string
	Worst  string // the most it was behind in the hour
}

const (
	chartW, chartH = 600, 140
	chartPad       = 4
)

// chartColours tell the peers apart (not states: every line is a peer).
var chartColours = []string{"#8ab4f8", "#f28b82", "#fdd663", "#81c995", "#ff8bcb", "#78d9ec", "#fcad70", "#c58af9"}

// lagChart draws the samples of the last hour before now.
func lagChart(samples []replicator.LagSample, now time.Time) LagChart {
	c := LagChart{Width: chartW, Height: chartH, Samples: len(samples), Max: 1}
	if len(samples) == 0 {
		c.Note = "no samples yet: the node that runs replication takes one every 10 s"
		return c
	}
	var peers []string
	for _, s := range samples {
		for p, l := range s.Peers {
			if !slices.Contains(peers, p) {
				peers = append(peers, p)
			}
			c.Max = max(c.Max, l.Seconds)
		}
	}
	slices.Sort(peers)
	c.Max = math.Ceil(c.Max)
	from := now.Add(-time.Hour)
	x := func(t time.Time) float64 {
		return round1(chartPad + float64(chartW-2*chartPad)*min(1, max(0, t.Sub(from).Seconds()/time.Hour.Seconds())))
	}
	y := func(sec float64) float64 { return round1(chartH - chartPad - float64(chartH-2*chartPad)*sec/c.Max) }
	for i, p := range peers {
		var pts []string
		worst := 0.0
		for _, s := range samples {
			l, ok := s.Peers[p]
			if !ok {
				continue
			}
			worst = max(worst, l.Seconds)
			pts = append(pts, fmt.Sprintf("%g,%g", x(s.Time), y(l.Seconds)))
		}
		if len(pts) == 1 { // one sample: a short flat stroke, so it shows
			pts = append(pts, fmt.Sprintf("%g,%s", x(samples[len(samples)-1].Time)+2, strings.Split(pts[0], ",")[1]))
		}
		c.Lines = append(c.Lines, LagLine{Peer: p, Points: strings.Join(pts, " "), Colour: chartColours[i%len(chartColours)],
			Worst: fmt.Sprintf("%.1f s", worst)})
	}
	return c
}
