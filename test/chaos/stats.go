package chaos

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of ds by the nearest-rank method, 0
// for no data: with ten failovers, p90 is the ninth fastest, a value that was measured.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(float64(len(s)) * p / 100))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// FigureRow is one line of the failover table: a measured span over repeated trials.
type FigureRow struct {
	What    string
	Samples []time.Duration
	// Failed counts trials in which the span never ended within its deadline.
	Failed int
}

// FormatFigures renders the failover table as Markdown, median and p90 per row, with the
// command that produced it.
func FormatFigures(command string, rows []FigureRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "command: %s\n\n", command)
	b.WriteString("| what | n | median | p90 | min | max | failed |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		lo, hi := time.Duration(0), time.Duration(0)
		if len(r.Samples) > 0 {
			lo, hi = slices.Min(r.Samples), slices.Max(r.Samples)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %d |\n", r.What, len(r.Samples),
			msf(Percentile(r.Samples, 50)), msf(Percentile(r.Samples, 90)), msf(lo), msf(hi), r.Failed)
	}
	return b.String()
}

func msf(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
