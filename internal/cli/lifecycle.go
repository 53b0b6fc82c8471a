package cli

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

var cmdLifecycle = &command{
	name:     "lifecycle",
	synopsis: "Show every plugin instance and connection with its lifecycle state",
	help: `Lists every plugin instance and database connection with its state and its last
transition (event, source, Raft index, reason). -diagram prints the state machines as
Mermaid diagrams instead.`,
	api: true,
	run: runLifecycle,
}

// transition is one recorded lifecycle transition.
type transition struct {
	Event   string `json:"event"`
	From    string `json:"from"`
	To      string `json:"to"`
	EventID string `json:"event_id"`
	Source  string `json:"source"`
	Index   uint64 `json:"index"`
	Time    string `json:"time"`
	Reason  string `json:"reason"`
}

// machine is one lifecycle state machine as sys/lifecycle reports it.
type machine struct {
	Kind    string       `json:"kind"`
	ID      string       `json:"id"`
	State   string       `json:"state"`
	History []transition `json:"history"`
}

func runLifecycle(in *invocation, args []string) error {
	diagram := in.fs.Bool("diagram", false, "Print the Mermaid state diagrams of the lifecycle machines.")
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	r, err := in.callSecret("GET", "sys/lifecycle", nil, nil)
	if err != nil {
		return err
	}
	var data struct {
		Machines []machine         `json:"machines"`
		Diagrams map[string]string `json:"diagrams"`
	}
	if len(r.Data) > 0 {
		if err := decode(r.Data, &data); err != nil {
			return err
		}
	}
	if *diagram {
		if in.json() {
			return printJSON(in.stdout, data.Diagrams)
		}
		if len(data.Diagrams) == 0 {
			return fmt.Errorf("the server sent no diagrams")
		}
		for i, kind := range slices.Sorted(maps.Keys(data.Diagrams)) {
			if i > 0 {
				fmt.Fprintln(in.stdout)
			}
			// A Mermaid comment, so that the output pastes into a Mermaid renderer as it is.
			fmt.Fprintf(in.stdout, "%%%% %s\n%s\n", kind, strings.TrimRight(data.Diagrams[kind], "\n"))
		}
		return nil
	}
	if in.json() {
		return printRawJSON(in.stdout, r.Data)
	}
	if len(data.Machines) == 0 {
		_, err := fmt.Fprintln(in.stdout, "No plugin instances or connections yet.")
		return err
	}
	slices.SortFunc(data.Machines, func(a, b machine) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
	rows := make([][]string, 0, len(data.Machines))
	for _, m := range data.Machines {
		row := []string{m.Kind, m.ID, m.State, "-", "", "", ""}
		if n := len(m.History); n > 0 {
			t := m.History[n-1]
			row[3] = fmt.Sprintf("%s (%s -> %s)", t.Event, t.From, t.To)
			row[4] = t.Source
			if t.Index > 0 {
				row[5] = strconv.FormatUint(t.Index, 10)
			}
			row[6] = t.Reason
		}
		rows = append(rows, row)
	}
	printTable(in.stdout, []string{"Kind", "ID", "State", "Last Event", "Source", "Index", "Reason"}, rows)
	return nil
}
