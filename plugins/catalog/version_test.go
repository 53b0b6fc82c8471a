package catalog

import (
	"fmt"
	"testing"
)

func TestCanonicalVersion(t *testing.T) {
	for _, tc := range []struct {
		in, want, wantErr string
	}{
		{"", "", ""},
		{"v1.0.0", "v1.0.0", ""},
		{"v1.0", "v1.0.0", ""},
		{"v1", "v1.0.0", ""},
		{"v2.3.2-beta", "v2.3.2-beta", ""},
		{"v1.04.0", "v1.4.0", ""},
		{"v1.0.0+builtin.baton", "v1.0.0+builtin.baton", ""},
		{"1.0.0", "", `lacks the leading 'v': write "v1.0.0"`},
		{"V1.0.0", "", "is not a semantic version"},
		{"vnext", "", `"vnext" is not a semantic version`},
		{"v1.0.0beta", "", "is not a semantic version"},
	} {
		got, err := CanonicalVersion(tc.in)
		checkRefusal(t, fmt.Sprintf("CanonicalVersion(%q)", tc.in), err, tc.wantErr)
		if got != tc.want {
			t.Errorf("CanonicalVersion(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		given, reported, want, wantErr string
	}{
		{"", "", "", ""},
		{"", "v1.2", "v1.2.0", ""},
		{"v1.2", "", "v1.2.0", ""},
		{"v1.0", "v1.0.0", "v1.0.0", ""},
		{"v1.0.0", "v1.0", "v1.0.0", ""},
		{"v1.0.0", "v1.0.1", "", `version "v1.0.0" was given but the plugin reports "v1.0.1"`},
		{"v1.0.0", "v1.0.0-rc1", "", `"v1.0.0" was given but the plugin reports "v1.0.0-rc1"`},
		{"", "1.0.0", "", `version reported by the plugin "1.0.0" lacks the leading 'v'`},
		{"v1.0.0", "garbage", "", `version reported by the plugin "garbage" is not a semantic version`},
		{"1.0.0", "v1.0.0", "", `version "1.0.0" lacks the leading 'v'`},
	} {
		got, err := CompareVersions(tc.given, tc.reported)
		checkRefusal(t, fmt.Sprintf("CompareVersions(%q, %q)", tc.given, tc.reported), err, tc.wantErr)
		if got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %q, want %q", tc.given, tc.reported, got, tc.want)
		}
	}
}

func TestCompareCanonicalOrder(t *testing.T) {
	ordered := []string{"", "v0.9.0", "v1.0.0-alpha", "v1.0.0-beta", "v1.0.0", "v1.0.0+a", "v1.0.0+b", "v1.2.0", "v1.10.0"}
	for i := range ordered {
		for j := range ordered {
			got := compareCanonical(ordered[i], ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("compareCanonical(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}
