package chaos

import (
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ten := make([]time.Duration, 10)
	for i := range ten {
		ten[i] = time.Duration(10-i) * time.Millisecond // unsorted on purpose
	}
	cases := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", []time.Duration{3}, 90, 3},
		{"median of ten", ten, 50, 5 * time.Millisecond},
		{"p90 of ten", ten, 90, 9 * time.Millisecond},
		{"p100 of ten", ten, 100, 10 * time.Millisecond},
		{"median of three", []time.Duration{30, 10, 20}, 50, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.in, tc.p); got != tc.want {
				t.Fatalf("Percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
			}
		})
	}
	if ten[0] != 10*time.Millisecond {
		t.Fatal("Percentile sorted its input in place")
	}
}

func TestFormatFigures(t *testing.T) {
	out := FormatFigures("go test -tags chaos -run TestFailoverFigures", []FigureRow{
		{What: "kill → new leader", Samples: []time.Duration{400 * time.Millisecond, 500 * time.Millisecond}},
		{What: "kill → first creds", Failed: 1},
	})
	for _, want := range []string{"command: go test", "| kill → new leader | 2 | 400 ms | 500 ms | 400 ms | 500 ms | 0 |", "| kill → first creds | 0 | 0 ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
