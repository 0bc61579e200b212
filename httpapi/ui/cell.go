package ui

// State is the colour of a cell on the wall board.
type State int

// States, from best to worst; None is grey ("no data").
const (
	None State = iota
	OK         // green
	Warn       // orange
	Fail       // red
)

var stateClasses = []string{"none", "ok", "warn", "fail"}

// Class is the CSS class of the state.
func (s State) Class() string { return "s-" + stateClasses[s] }

func (s State) String() string { return stateClasses[s] }

// worst returns the worse of two states; None counts as better than OK
// so that a missing part does not hide a known one.
func worst(a, b State) State {
	if a > b {
		return a
	}
	return b
}

// Cell is one coloured value.
type Cell struct {
	State  State
	Text   string
	Detail string // shown on hover
}

func noData(detail string) Cell { return Cell{State: None, Text: "no data", Detail: detail} }

func healthCell(h Health, up, degraded, down string) Cell {
	switch h {
	case Up:
		return Cell{State: OK, Text: up}
	case Degraded:
		return Cell{State: Warn, Text: degraded}
	case Down:
		return Cell{State: Fail, Text: down}
	}
	return noData("")
}
