package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// writeColumns aligns rows in columns, each line starting with indent.
func writeColumns(w io.Writer, indent string, rows [][]string) {
	lines := make([]string, len(rows))
	for i, r := range rows {
		lines[i] = indent + strings.Join(r, "\t")
	}
	writeAligned(w, lines)
}

// writeAligned aligns tab-separated lines and trims the padding that empty last cells leave.
// Every line must have the same number of cells: tabwriter ends a column at a shorter line.
func writeAligned(w io.Writer, lines []string) {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 4, ' ', 0)
	for _, l := range lines {
		fmt.Fprintln(tw, l)
	}
	tw.Flush()
	for line := range strings.Lines(buf.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
}

// printTable writes a table with a header underlined by dashes, as OpenBao's CLI does.
func printTable(w io.Writer, header []string, rows [][]string) {
	all := make([][]string, 0, len(rows)+2)
	all = append(all, header)
	dashes := make([]string, len(header))
	for i, h := range header {
		dashes[i] = strings.Repeat("-", len(h))
	}
	all = append(all, dashes)
	all = append(all, rows...)
	lines := make([]string, len(all))
	for i, r := range all {
		lines[i] = strings.Join(r, "\t")
	}
	writeAligned(w, lines)
}

// printKV writes a Key/Value table.
func printKV(w io.Writer, rows [][]string) {
	printTable(w, []string{"Key", "Value"}, rows)
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the output: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printRawJSON writes a JSON value from the server indented, keeping its key order; an absent
// value prints as null.
func printRawJSON(w io.Writer, raw json.RawMessage) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("null")
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("unexpected reply from Baton: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// formatValue renders one reply value for a table cell: scalars as they are, lists and
// objects as compact JSON.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "n/a"
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// sortedRows turns a data object into Key/Value rows sorted by key.
func sortedRows(data map[string]any) [][]string {
	rows := make([][]string, 0, len(data))
	for _, k := range slices.Sorted(maps.Keys(data)) {
		rows = append(rows, []string{k, formatValue(data[k])})
	}
	return rows
}

// humanSeconds renders a number of seconds as OpenBao does ("768h", "1h30m", "45s").
func humanSeconds(n int64) string {
	s := (time.Duration(n) * time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// printWarnings writes the server's warnings to w.
func printWarnings(w io.Writer, warnings []string) {
	if len(warnings) == 0 {
		return
	}
	fmt.Fprintln(w, "WARNING! The following warnings were returned from Baton:")
	fmt.Fprintln(w)
	for _, m := range warnings {
		fmt.Fprintf(w, "  * %s\n", m)
	}
	fmt.Fprintln(w)
}
