package dbplugin

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestTimeConversion(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		name    string
		in      time.Time
		wantNil bool
		want    time.Time
	}{
		{"zero is absent", time.Time{}, true, time.Time{}},
		{"utc with nanoseconds", time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.UTC), false, time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.UTC)},
		{"zone becomes utc", time.Date(2030, 1, 1, 1, 0, 0, 0, berlin), false, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := timeToProto(tt.in)
			if (ts == nil) != tt.wantNil {
				t.Fatalf("timeToProto = %v, want nil %v", ts, tt.wantNil)
			}
			got, err := timeFromProto(ts)
			if err != nil || got != tt.want {
				t.Errorf("round trip = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	// OpenBao's host encodes "no expiration" as a timestamp of the zero time.
	if got, err := timeFromProto(timestamppb.New(time.Time{})); err != nil || !got.IsZero() || got != (time.Time{}) {
		t.Errorf("OpenBao zero timestamp = %v, %v; want the zero time", got, err)
	}
	if _, err := timeFromProto(&timestamppb.Timestamp{Seconds: 1, Nanos: -1}); err == nil {
		t.Error("invalid timestamp accepted")
	}
}

func TestConfigConversion(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]any
		want map[string]any
	}{
		{"nil", nil, nil},
		{"empty", map[string]any{}, map[string]any{}},
		{"json types", map[string]any{"s": "x", "n": 3, "f": 1.5, "b": false, "null": nil},
			map[string]any{"s": "x", "n": float64(3), "f": 1.5, "b": false, "null": nil}},
		{"go collections", map[string]any{"list": []string{"a", "b"}, "map": map[string]string{"k": "v"}, "num": json.Number("7")},
			map[string]any{"list": []any{"a", "b"}, "map": map[string]any{"k": "v"}, "num": float64(7)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mapToStruct(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := structToMap(s); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("round trip = %#v, want %#v", got, tt.want)
			}
		})
	}
	if _, err := mapToStruct(map[string]any{"ch": make(chan int)}); err == nil {
		t.Error("an unencodable config was accepted")
	}
}

func TestEnvironment(t *testing.T) {
	tests := []struct {
		bao, vault string
		setBao     bool
		want       bool
	}{
		{"", "", false, false},
		{"", "true", false, true},
		{"true", "", true, true},
		{"false", "true", true, false},
		{"1", "", true, true},
		{"yes", "", true, false},
	}
	for _, tt := range tests {
		t.Setenv(EnvMetadataModeOld, tt.vault)
		if tt.setBao {
			t.Setenv(EnvMetadataMode, tt.bao)
		} else {
			t.Setenv(EnvMetadataMode, "") // restored after the test
			if err := os.Unsetenv(EnvMetadataMode); err != nil {
				t.Fatal(err)
			}
		}
		if got := MetadataMode(); got != tt.want {
			t.Errorf("bao=%q(set %v) vault=%q: MetadataMode() = %v, want %v", tt.bao, tt.setBao, tt.vault, got, tt.want)
		}
	}
	t.Setenv(EnvHostVersion, "v2.1.0")
	if got := HostVersion(); got != "v2.1.0" {
		t.Errorf("HostVersion() = %q", got)
	}
}
